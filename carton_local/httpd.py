"""The HTTP server class the local stack's own endpoints (gateway, Lambda Invoke) run on."""

from __future__ import annotations

from http.server import ThreadingHTTPServer

# socketserver listens with a backlog of 5: a burst of connections (a browser, a load test,
# Step Functions' Map state) overflows it and the kernel drops or resets the rest.
LISTEN_BACKLOG = 128


class LocalHTTPServer(ThreadingHTTPServer):
    """A thread per connection, daemon threads (a stuck client never blocks shutdown), and a
    listen backlog that takes a burst."""

    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True
