"""The local gateway as an HTTP server: framing, methods, Lambda's payload limits, CORS.

Functions are stand-ins here (no AWS): what is tested is what the gateway answers by
itself, on 127.0.0.1.
"""

from __future__ import annotations

import base64
import errno
import http.client
import json
import select
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from carton.web.routes import (
    GATEWAY_ANSWERS,
    MAX_EVENT_BYTES,
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
    RESPONSE_TOO_LARGE,
    bounded_response,
    event_bytes,
)
from carton_local.gateway import gateway_server, match_route, methods_on
from carton_local.httpd import LISTEN_BACKLOG
from carton_local.lambdas import FunctionError, LocalFunctions, invoke_server

GOOD = "Token good"
APP = "https://app.example"


@dataclass
class StubFunctions:
    """Lambda stand-in: the authorizer knows GOOD; every other function answers `answer`."""

    answer: Callable[[str, dict[str, Any]], Any] = lambda name, event: {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"function": name, "body_bytes": len(event.get("body") or "")}),
    }
    calls: list[str] = field(default_factory=list)

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        if name == "authorizer":
            if event["authorizationToken"] != GOOD:
                raise FunctionError({"errorMessage": "Unauthorized"})
            return {
                "principalId": "u1",
                "policyDocument": {"Statement": [{"Effect": "Allow", "Resource": "*"}]},
                "context": {"account_id": "demo", "user_id": "u1", "role": "admin"},
            }
        self.calls.append(name)
        return self.answer(name, event)


@dataclass
class Gateway:
    port: int
    functions: StubFunctions

    def raw(self, data: bytes, timeout: float = 5) -> tuple[int, dict[str, str], bytes]:
        """Send `data` as is; the status, headers (lower-case) and body of the answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(data)
            response = http.client.HTTPResponse(sock, method=data.split(b" ", 1)[0].decode())
            response.begin()
            body = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, body

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()


def _serve(functions: StubFunctions, origins: tuple[str, ...]) -> Iterator[Gateway]:
    server = gateway_server(functions, "127.0.0.1", 0, cors_origins=origins)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Gateway(server.server_address[1], functions)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    yield from _serve(StubFunctions(), ())


@pytest.fixture
def cors_gateway() -> Iterator[Gateway]:
    yield from _serve(StubFunctions(), (APP, "http://localhost:5173"))


def _error(body: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(body)
    assert set(document) == {"message", "errors"}
    return document


# --- routing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/api/v1/health", ("GET",)),
        ("/api/v1/health.json", ("GET",)),
        ("/api/v1/assets/uploads", ("POST",)),  # the static resource wins over /assets/{key}
        ("/api/v1/assets/k1", ("DELETE", "GET", "PUT")),
        ("/api/v1/downloads/d1.xml", ("DELETE", "GET")),
        ("/api/v1/nothing", ()),
    ],
)
def test_methods_on_a_path_are_those_of_its_resource(path: str, methods: tuple[str, ...]) -> None:
    assert methods_on(path) == methods


def test_unknown_methods_are_method_not_allowed_on_known_paths() -> None:
    assert match_route("TRACE", "/api/v1/health") == "METHOD_NOT_ALLOWED"
    assert match_route("BREW", "/api/v1/nothing") == "MISSING_AUTHENTICATION_TOKEN"


# --- hostile HTTP ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "-1", "+5", "1.5", "0x10", "5, 6", ""])
def test_a_malformed_content_length_is_a_400_in_the_error_body(gateway: Gateway, value: str) -> None:
    request = f"POST /api/v1/downloads HTTP/1.1\r\nHost: x\r\nContent-Length: {value}\r\n\r\n".encode()
    status, headers, body = gateway.raw(request, timeout=5)  # -1 used to hang the thread
    assert status == 400
    assert "content-length" in _error(body)["errors"]
    assert headers.get("connection") == "close"
    assert gateway.functions.calls == []


def test_two_different_content_lengths_are_refused(gateway: Gateway) -> None:
    request = b"POST /api/v1/downloads HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"
    assert gateway.raw(request)[0] == 400


def test_content_length_with_transfer_encoding_is_refused(gateway: Gateway) -> None:
    request = (
        b"POST /api/v1/downloads HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    status, _, body = gateway.raw(request)
    assert status == 400
    assert "transfer-encoding" in _error(body)["errors"]


def test_an_unknown_transfer_coding_is_not_implemented(gateway: Gateway) -> None:
    request = b"POST /api/v1/downloads HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
    assert gateway.raw(request)[0] == 501


def test_a_chunked_body_reaches_the_function(gateway: Gateway) -> None:
    request = (
        b"POST /api/v1/downloads HTTP/1.1\r\nHost: x\r\nAuthorization: Token good\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'4\r\n{"a"\r\n3;ext=1\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n'
    )
    status, _, body = gateway.raw(request)
    assert status == 200
    assert json.loads(body) == {"function": "create_download", "body_bytes": 8}


def test_a_malformed_chunk_is_a_400(gateway: Gateway) -> None:
    request = b"POST /api/v1/downloads HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    assert gateway.raw(request)[0] == 400


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "BREW", "PATCH", "get"])
def test_any_other_method_on_a_known_path_is_a_405_with_allow(gateway: Gateway, method: str) -> None:
    status, headers, body = gateway.raw(f"{method} /api/v1/assets/k1 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 405
    assert headers["allow"] == "DELETE, GET, PUT"
    assert _error(body) == GATEWAY_ANSWERS["METHOD_NOT_ALLOWED"].body()


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "BREW"])
def test_any_method_on_an_unknown_path_is_a_404(gateway: Gateway, method: str) -> None:
    status, headers, body = gateway.raw(f"{method} /api/v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 404
    assert "allow" not in headers
    assert _error(body) == GATEWAY_ANSWERS["MISSING_AUTHENTICATION_TOKEN"].body()


def test_connect_to_an_authority_is_a_404(gateway: Gateway) -> None:
    assert gateway.raw(b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 404


def test_every_405_carries_allow(gateway: Gateway) -> None:
    for method, path, allow in [
        ("DELETE", "/api/v1/health", "GET"),
        ("GET", "/api/v1/assets/uploads", "POST"),
        ("OPTIONS", "/api/v1/downloads", "GET, POST"),  # no CORS configured: no preflight either
        ("POST", "/api/v1/downloads/d1.json", "DELETE, GET"),
    ]:
        status, headers, _ = gateway.request(method, path)
        assert (status, headers.get("allow")) == (405, allow), (method, path)


def test_head_is_a_405_without_a_body(gateway: Gateway) -> None:
    status, headers, body = gateway.request("HEAD", "/api/v1/health")
    assert (status, headers["allow"], body) == (405, "GET", b"")


def test_a_method_that_is_no_token_is_a_400(gateway: Gateway) -> None:
    status, _, body = gateway.raw(b"GE(T /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 400
    assert "method" in _error(body)["errors"]


def test_what_http_server_refuses_is_answered_in_the_error_body(gateway: Gateway) -> None:
    status, headers, body = gateway.raw(b"GET /api/v1/health HTTP/9.9\r\nHost: x\r\n\r\n")
    assert status == 505
    assert headers["content-type"] == "application/json"
    assert _error(body)["message"] == "HTTP Version Not Supported"


def test_a_client_that_stops_sending_does_not_hold_the_gateway(gateway: Gateway) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as idle:
        idle.sendall(b"POST /api/v1/downloads HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        assert gateway.request("GET", "/api/v1/health")[0] == 200  # served meanwhile


# --- Lambda's payload limits -------------------------------------------------------------------


def test_an_event_over_6_mb_is_a_413_before_the_function_runs(gateway: Gateway) -> None:
    body = b'{"art": "' + b"a" * MAX_EVENT_BYTES + b'"}'
    assert len(body) < MAX_REQUEST_BYTES  # API Gateway would take it; Lambda does not
    status, _, answer = gateway.request(
        "POST", "/api/v1/assets", body, {"Authorization": GOOD, "Content-Type": "application/json"}
    )
    assert status == 413
    assert _error(answer) == GATEWAY_ANSWERS["REQUEST_TOO_LARGE"].body()
    assert "6 MB" in answer.decode() and "POST /api/v1/assets/uploads" in answer.decode()
    assert gateway.functions.calls == []


def test_a_binary_body_counts_as_base64(gateway: Gateway) -> None:
    raw = b"\x89" * (MAX_EVENT_BYTES * 3 // 4 + 1024)  # under 6 MB, over it once base64-encoded
    headers = {"Authorization": GOOD, "Content-Type": "image/png"}
    status, _, _ = gateway.request("POST", "/api/v1/assets", raw, headers)
    assert status == 413
    assert gateway.functions.calls == []


def test_an_event_under_the_limit_reaches_the_function(gateway: Gateway) -> None:
    body = b'"' + b"a" * (MAX_EVENT_BYTES - 64 * 1024) + b'"'
    status, _, answer = gateway.request(
        "POST", "/api/v1/assets", body, {"Authorization": GOOD, "Content-Type": "application/json"}
    )
    assert status == 200
    assert json.loads(answer)["body_bytes"] == len(body)


def test_the_event_is_measured_as_its_json(gateway: Gateway) -> None:
    # Escaping counts: a body of quotes doubles in the event.
    assert event_bytes({"body": '"' * 10}) == len('{"body":"' + '\\"' * 10 + '"}')
    assert event_bytes({"body": "ñ"}) == len('{"body":"ñ"}'.encode())


def test_an_unauthenticated_oversized_request_is_a_401(gateway: Gateway) -> None:
    # As on AWS: the authorizer runs before the function is invoked (and the event measured).
    body = b"a" * (MAX_EVENT_BYTES + 1)
    assert gateway.request("POST", "/api/v1/assets", body, {"Content-Type": "text/plain"})[0] == 401


def test_a_body_over_10_mb_is_a_413(gateway: Gateway) -> None:
    status, _, answer = gateway.request("POST", "/api/v1/assets", b"a" * (MAX_REQUEST_BYTES + 1), {})
    assert status == 413
    assert _error(answer) == GATEWAY_ANSWERS["REQUEST_TOO_LARGE"].body()


def test_expect_100_continue_is_refused_before_the_body_is_sent(gateway: Gateway) -> None:
    request = (
        f"POST /api/v1/assets HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        f"Content-Length: {MAX_REQUEST_BYTES + 1}\r\n\r\n"
    ).encode()
    status, headers, _ = gateway.raw(request)
    assert status == 413
    assert headers["connection"] == "close"


def test_a_response_over_6_mb_is_a_413_not_a_502() -> None:
    huge = "x" * MAX_RESPONSE_BYTES

    def answer(name: str, event: dict[str, Any]) -> Any:
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps([huge])}

    for gateway in _serve(StubFunctions(answer=answer), ()):
        status, _, body = gateway.request("GET", "/api/v1/assets", headers={"Authorization": GOOD})
        assert status == 413
        assert _error(body) == RESPONSE_TOO_LARGE.body()


def test_a_binary_response_counts_as_base64() -> None:
    raw = base64.b64encode(b"\0" * (MAX_RESPONSE_BYTES * 3 // 4 + 1024)).decode()

    def answer(name: str, event: dict[str, Any]) -> Any:
        return {"statusCode": 200, "headers": {"Content-Type": "image/png"}, "body": raw, "isBase64Encoded": True}

    for gateway in _serve(StubFunctions(answer=answer), ()):
        assert gateway.request("GET", "/api/v1/assets", headers={"Authorization": GOOD})[0] == 413


def test_a_function_can_bound_its_own_response() -> None:
    small = {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "[]"}
    assert bounded_response(small) is small
    huge = {
        "statusCode": 200,
        "multiValueHeaders": {
            "Content-Type": ["application/json"],
            "ETag": ['"abc"'],
            "Access-Control-Allow-Origin": [APP],
            "Vary": ["Origin"],
        },
        "body": json.dumps(["x" * MAX_RESPONSE_BYTES]),
        "isBase64Encoded": False,
    }
    bounded = bounded_response(huge)
    assert bounded["statusCode"] == 413
    assert bounded["headers"] == {
        "Access-Control-Allow-Origin": APP,
        "Vary": "Origin",
        "Content-Type": "application/json",
    }
    assert json.loads(bounded["body"]) == RESPONSE_TOO_LARGE.body()


def test_a_function_crash_is_a_502_in_the_error_body() -> None:
    def answer(name: str, event: dict[str, Any]) -> Any:
        raise FunctionError({"errorMessage": "boom", "errorType": "RuntimeError"})

    for gateway in _serve(StubFunctions(answer=answer), ()):
        status, _, body = gateway.request("GET", "/api/v1/assets", headers={"Authorization": GOOD})
        assert status == 502
        assert _error(body)["message"] == "Internal server error"


# --- the listen backlog ------------------------------------------------------------------------


def _connect_all(port: int, count: int, seconds: float) -> int:
    """Open `count` connections at once; how many the kernel completed within `seconds`."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.setblocking(False)
            code = sock.connect_ex(("127.0.0.1", port))
            assert code in (0, errno.EINPROGRESS)
            sockets.append(sock)
        _, writable, _ = select.select([], sockets, [], seconds)
        return sum(1 for sock in writable if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0)
    finally:
        for sock in sockets:
            sock.close()


def test_a_burst_of_connections_fits_in_the_gateway_backlog() -> None:
    # Bound and listening but not accepting yet: only the backlog holds the burst.
    server = gateway_server(StubFunctions(), "127.0.0.1", 0, cors_origins=())  # type: ignore[arg-type]
    try:
        assert server.request_queue_size == LISTEN_BACKLOG >= 128
        assert _connect_all(server.server_address[1], 100, 2.0) == 100
    finally:
        server.server_close()


def test_the_invoke_endpoint_has_the_same_backlog() -> None:
    server = invoke_server(LocalFunctions(), "127.0.0.1")
    try:
        assert server.request_queue_size == LISTEN_BACKLOG
        assert server.daemon_threads
        assert _connect_all(server.server_address[1], 100, 2.0) == 100
    finally:
        server.server_close()


# --- CORS on the gateway's own answers and preflights ---------------------------------------


def test_a_preflight_from_an_allowed_origin_is_answered_by_the_gateway(cors_gateway: Gateway) -> None:
    status, headers, body = cors_gateway.request(
        "OPTIONS",
        "/api/v1/downloads",
        headers={
            "Origin": APP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )
    assert (status, body) == (204, b"")
    assert headers["access-control-allow-origin"] == APP
    assert headers["access-control-allow-methods"] == "GET,POST"
    allowed = {name.strip().lower() for name in headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key", "if-none-match", "if-modified-since"} <= allowed
    assert headers["access-control-max-age"] == "600"
    assert headers["vary"] == "Origin"
    assert headers["allow"] == "GET, OPTIONS, POST"
    assert cors_gateway.functions.calls == []  # no authorizer, no function


def test_a_preflight_from_another_origin_gets_no_cors_headers(cors_gateway: Gateway) -> None:
    status, headers, _ = cors_gateway.request(
        "OPTIONS",
        "/api/v1/downloads",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert status == 204
    assert not any(name.startswith("access-control-") for name in headers)


def test_a_preflight_to_an_unknown_path_is_a_404(cors_gateway: Gateway) -> None:
    status, headers, _ = cors_gateway.request("OPTIONS", "/api/v1/nothing", headers={"Origin": APP})
    assert status == 404
    assert headers["access-control-allow-origin"] == APP


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/api/v1/downloads", {}, 401),
        ("GET", "/api/v1/nothing", {}, 404),
        ("DELETE", "/api/v1/health", {}, 405),
        ("POST", "/api/v1/assets", {"Authorization": GOOD, "Content-Type": "text/plain"}, 413),
    ],
)
def test_the_gateways_own_answers_carry_cors_for_an_allowed_origin(
    cors_gateway: Gateway, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    body = b"a" * (MAX_EVENT_BYTES + 1) if status == 413 else None
    got, answered, _ = cors_gateway.request(method, path, body, {"Origin": APP, **headers})
    assert got == status
    assert answered["access-control-allow-origin"] == APP
    assert "ETag" in answered["access-control-expose-headers"]
    assert answered["vary"] == "Origin"
    if status == 405:
        assert answered["allow"] == "GET, OPTIONS"

    got, answered, _ = cors_gateway.request(method, path, body, {"Origin": "https://evil.example", **headers})
    assert got == status
    assert "access-control-allow-origin" not in answered


def test_without_configured_origins_nothing_is_added(gateway: Gateway) -> None:
    status, headers, _ = gateway.request("GET", "/api/v1/downloads", headers={"Origin": APP})
    assert status == 401
    assert not any(name.startswith("access-control-") for name in headers) and "vary" not in headers


def test_a_wildcard_allows_any_origin() -> None:
    for gateway in _serve(StubFunctions(), ("*",)):
        _, headers, _ = gateway.request("GET", "/api/v1/nothing", headers={"Origin": "https://any.example"})
        assert headers["access-control-allow-origin"] == "*"
