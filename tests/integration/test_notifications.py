"""Notifications on complete and failed: SES e-mail, signed webhook (SSRF-safe), EventBridge."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from email.utils import parseaddr
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from carton import aws, config
from carton.models import DownloadState
from carton_local.lambdas import FunctionError
from tests.integration.conftest import Carton
from tests.integration.test_workflow import new_download, run_workflow

SECRET = "s3cr3t-shared-with-the-receiver"


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    status = 204

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, type[Receiver]]]:
    handler = type("R", (Receiver,), {"received": [], "status": 204})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(config.ENV_WEBHOOK_ALLOW_LOOPBACK, "1")
    config.settings.cache_clear()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/carton", handler
    server.shutdown()


@pytest.fixture
def sent(carton: Carton) -> list[Any]:
    aws.ses().verify_email_identity(EmailAddress=parseaddr(config.settings().mail_from)[1])
    messages: list[Any] = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    return messages


def announce(carton: Carton, download_id: str, event: str) -> dict[str, Any]:
    result: dict[str, Any] = carton.invoke(
        "workflow_notify", {"account_id": "demo", "download_id": download_id, "event": event}
    )
    return result


def test_completion_is_mailed_posted_signed_and_announced_once(
    carton: Carton, sent: list[Any], receiver: tuple[str, type[Receiver]]
) -> None:
    url, handler = receiver
    # The request model only admits https; the loopback opt-in is for this test's receiver.
    download_id = new_download(carton, ["demo-logo"], notify={"emails": ["ops@demo.local"]}, name="Logos")
    carton.store.update_download(
        "demo",
        download_id,
        expect=[DownloadState.PENDING],
        options=carton.store.get_download("demo", download_id).options.model_copy(
            update={
                "notify": carton.store.get_download("demo", download_id).options.notify.model_copy(
                    update={"webhook_url": url, "webhook_secret": SECRET}
                )
            }
        ),
    )
    run_workflow(carton, download_id)
    result = announce(carton, download_id, "completed")
    assert result["notified"] == ["completed:email", "completed:event", "completed:webhook"]

    assert len(sent) == 1
    assert sorted(sent[0].destinations["ToAddresses"]) == ["admin@demo.local", "ops@demo.local"]
    assert sent[0].subject == "Your download “Logos” is ready"
    headers, body = handler.received[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-carton-signature"] == expected
    document = json.loads(body)
    assert document["event"] == "download.completed" and document["download"]["state"] == "complete"

    announce(carton, download_id, "completed")  # a repeated step repeats nothing
    assert len(sent) == 1 and len(handler.received) == 1


def test_a_failing_webhook_is_retried_without_mailing_again(
    carton: Carton, sent: list[Any], receiver: tuple[str, type[Receiver]]
) -> None:
    url, handler = receiver
    handler.status = 503
    download_id = new_download(carton, ["demo-logo"])
    download = carton.store.get_download("demo", download_id)
    notify = download.options.notify.model_copy(update={"webhook_url": url, "webhook_secret": SECRET})
    carton.store.update_download(
        "demo",
        download_id,
        expect=[DownloadState.PENDING],
        options=download.options.model_copy(update={"notify": notify}),
    )
    with pytest.raises(FunctionError) as caught:
        announce(carton, download_id, "failed")
    assert caught.value.payload["errorType"] == "WebhookFailed"
    handler.status = 200
    assert announce(carton, download_id, "failed")["notified"][-1] == "failed:webhook"
    assert len(sent) == 1 and len(handler.received) == 2


def test_webhooks_to_private_addresses_are_never_called(carton: Carton, sent: list[Any]) -> None:
    download_id = new_download(carton, ["demo-logo"])
    download = carton.store.get_download("demo", download_id)
    notify = download.options.notify.model_copy(
        # A name (so the request model admits it) that resolves to a loopback address.
        update={"webhook_url": "https://localhost:9/hook", "webhook_secret": SECRET}
    )
    carton.store.update_download(
        "demo",
        download_id,
        expect=[DownloadState.PENDING],
        options=download.options.model_copy(update={"notify": notify}),
    )
    result = announce(carton, download_id, "completed")  # refused, not retried, nothing raised
    assert "completed:webhook" in result["notified"]
