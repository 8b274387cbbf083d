"""Notifications on complete and failed: SES e-mail, signed webhook (SSRF-safe), EventBridge."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from email.utils import parseaddr
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from carton.downloads.models import DownloadState
from carton.shared import aws, config
from carton_local.lambdas import FunctionError
from carton_local.stack import LOCAL_MAIL_FROM
from tests.integration.conftest import Carton, load_event
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
    monkeypatch.setenv(config.ENV_ALLOW_LOOPBACK_FETCHES, "1")
    config.settings.cache_clear()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/carton", handler
    server.shutdown()


@pytest.fixture
def sent(carton: Carton) -> list[Any]:
    aws.ses().verify_email_identity(EmailAddress=parseaddr(LOCAL_MAIL_FROM)[1])
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
    carton.store.set_notify_domains("demo", ["demo.local"])
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
    assert sent[0].subject == "Your Carton download is ready"  # Carton's words; the name only in the body
    assert "The download named “Logos” is packaged" in sent[0].body
    headers, body = handler.received[0]
    # Standard Webhooks: the receiver's own library verifies id, timestamp and signature.
    document = Webhook(SECRET.encode()).verify(body, headers)
    assert headers["webhook-id"] == f"{download_id}.completed"
    stale = {**headers, "webhook-timestamp": str(int(time.time()) - 3600)}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET.encode()).verify(body, stale)  # a captured delivery replayed an hour later
    assert document["event"] == "download.completed" and document["download"]["state"] == "complete"

    announce(carton, download_id, "completed")  # a repeated step repeats nothing
    assert len(sent) == 1 and len(handler.received) == 1
    statuses = carton.store.get_download("demo", download_id).notifications
    assert {name: (s.state, s.event, s.reason) for name, s in statuses.items()} == {
        "email": ("sent", "completed", None),
        "event": ("sent", "completed", None),
        "webhook": ("sent", "completed", None),
    }


def download_event(download_id: str) -> dict[str, Any]:
    event = load_event("api/get_download")
    event["pathParameters"] = {"download_id": download_id}
    event["path"] = f"/api/v1/downloads/{download_id}"
    return event


def with_webhook(carton: Carton, download_id: str, url: str) -> None:
    download = carton.store.get_download("demo", download_id)
    notify = download.options.notify.model_copy(update={"webhook_url": url, "webhook_secret": SECRET})
    carton.store.update_download(
        "demo", download_id, expect=list(DownloadState), options=download.options.model_copy(update={"notify": notify})
    )


def test_an_ses_refusal_is_recorded_on_the_download_not_swallowed(
    carton: Carton, sent: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(config.ENV_MAIL_FROM, "Carton <unverified@elsewhere.example>")  # SES sends only from verified
    config.settings.cache_clear()
    download_id = new_download(carton, ["demo-logo"])
    result = announce(carton, download_id, "completed")
    assert result["notified"] == ["completed:email", "completed:event", "completed:webhook"]  # none retried
    email = carton.store.get_download("demo", download_id).notifications["email"]
    assert email.state == "failed" and email.reason and "SES" in email.reason and not sent
    status, _, body = carton.api("get_download", download_event(download_id))
    assert status == 200 and body["notifications"]["email"]["state"] == "failed"


def test_without_a_sender_e_mail_is_refused_with_the_reason(carton: Carton, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.ENV_MAIL_FROM)
    config.settings.cache_clear()
    download_id = new_download(carton, ["demo-logo"])
    announce(carton, download_id, "failed")
    email = carton.store.get_download("demo", download_id).notifications["email"]
    assert (email.state, email.event) == ("refused", "failed") and "mail_from" in (email.reason or "")


def test_webhook_outcomes_are_recorded(
    carton: Carton, sent: list[Any], receiver: tuple[str, type[Receiver]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, handler = receiver
    handler.status = 503
    download_id = new_download(carton, ["demo-logo"])
    with_webhook(carton, download_id, url)
    with pytest.raises(FunctionError):
        announce(carton, download_id, "completed")
    webhook = carton.store.get_download("demo", download_id).notifications["webhook"]
    assert webhook.state == "failed" and "retried" in (webhook.reason or "")
    handler.status = 410
    announce(carton, download_id, "completed")
    webhook = carton.store.get_download("demo", download_id).notifications["webhook"]
    assert webhook.state == "failed" and webhook.reason == "the endpoint answered HTTP 410"

    refused_id = new_download(carton, ["demo-logo"])
    with_webhook(carton, refused_id, "https://localhost:9/hook")
    monkeypatch.delenv(config.ENV_ALLOW_LOOPBACK_FETCHES)  # as on AWS: loopback is never called
    config.settings.cache_clear()
    announce(carton, refused_id, "completed")
    webhook = carton.store.get_download("demo", refused_id).notifications["webhook"]
    assert webhook.state == "refused" and webhook.reason


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


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost/hook",
        "https://2130706433/hook",  # 127.0.0.1 as one number
        "https://0x7f.0.0.1/hook",
        "https://127.1/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://no-such-host.invalid/hook",
        "https://example.com:99999/hook",  # a port out of range
        "https://a..example/hook",  # an empty DNS label
        "https://" + "a" * 64 + ".example/hook",  # a label over 63 characters
    ],
)
def test_a_webhook_that_could_never_be_called_is_refused_at_create(carton: Carton, url: str) -> None:
    event = load_event("api/create_download")
    event["body"] = json.dumps({"asset_ids": ["demo-logo"], "notify": {"webhook_url": url, "webhook_secret": SECRET}})
    status, _, error = carton.api("create_download", event)
    assert status == 422 and "notify.webhook_url" in error["errors"], error
    assert not [i for i in carton.store.table.scan()["Items"] if i["sk"].startswith("DOWNLOAD#")]


def test_only_the_accounts_users_and_allowed_domains_may_be_mailed(carton: Carton) -> None:
    def create(emails: list[str]) -> tuple[int, Any]:
        event = load_event("api/create_download")
        event["body"] = json.dumps({"asset_ids": ["demo-logo"], "notify": {"emails": emails}})
        status, _, body = carton.api("create_download", event)
        return status, body

    status, error = create(["victim@elsewhere.example"])
    assert status == 422 and "victim@elsewhere.example" in error["errors"]["notify.emails"][0]
    assert create(["admin@demo.local"])[0] == 201  # a user of the account
    carton.store.set_notify_domains("demo", ["partner.example"])
    assert create(["someone@partner.example"])[0] == 201
    assert create(["someone@sub.partner.example"])[0] == 422  # subdomains are not included


def test_a_daily_cap_stops_the_mail_not_the_download(
    carton: Carton, sent: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(config.ENV_MAIL_PER_DAY, "2")
    config.settings.cache_clear()
    carton.store.set_notify_domains("demo", ["demo.local"])
    first = new_download(carton, ["demo-logo"], notify={"emails": ["ops@demo.local"]})
    announce(carton, first, "completed")  # two recipients: the creator and ops
    second = new_download(carton, ["demo-logo"])
    announce(carton, second, "completed")
    assert len(sent) == 1
    email = carton.store.get_download("demo", second).notifications["email"]
    assert email.state == "refused" and "daily e-mail limit (2" in (email.reason or "")


def test_long_names_are_shortened_and_quoted_in_the_body(carton: Carton, sent: list[Any]) -> None:
    download_id = new_download(carton, ["demo-logo"], name="Click here: https://evil.example/login " + "x" * 150)
    announce(carton, download_id, "completed")
    body = sent[0].body
    assert sent[0].subject == "Your Carton download is ready"
    assert "“Click here: https://evil.example/login " in body and "…”" in body and "x" * 100 not in body
