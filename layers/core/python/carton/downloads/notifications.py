"""Telling people a download finished or failed: e-mail (SES), a signed webhook, and an
EventBridge event. Each channel is served once: the download remembers which are done,
so the workflow can retry a failed webhook (with backoff) without e-mailing twice."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from standardwebhooks import Webhook

from carton.accounts.service import mail_day
from carton.downloads.models import Download, DownloadState, NotificationStatus
from carton.shared import aws
from carton.shared.config import settings
from carton.shared.errors import Conflict, Gone, NotFound
from carton.shared.fields import utcnow
from carton.shared.observability import logger
from carton.shared.safehttp import DeliveryFailed, UnsafeDestination, post
from carton.sharing.api import shared_url
from carton.sharing.service import issue_link
from carton.store import Store
from carton.web.routes import url_for

EVENTS = {"completed": "Download Completed", "failed": "Download Failed"}


class WebhookFailed(Exception):
    """The webhook could not be delivered this time; the workflow retries with backoff."""


def webhook_signer(secret: str) -> Webhook:
    """Standard Webhooks signing: a `whsec_…` secret is base64 as that scheme writes it;
    any other secret is used as its UTF-8 bytes (receivers: `Webhook(secret.encode())`)."""
    return Webhook(secret if secret.startswith("whsec_") else secret.encode())


def webhook_headers(secret: str, message_id: str, body: bytes, at: datetime) -> dict[str, str]:
    """`webhook-id` (the same on every retry, so receivers drop repeats), `webhook-timestamp`
    and `webhook-signature` over both and the body: a captured delivery cannot be replayed
    later, nor with another id."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": webhook_signer(secret).sign(message_id, at, body.decode()),
    }


def summary(download: Download, event: str) -> dict[str, Any]:
    base = settings().public_base_url
    url = url_for("get_download", base, download_id=download.download_id) if base else None
    return {
        "event": f"download.{event}",
        "download": {
            "id": download.download_id,
            "account_id": download.account_id,
            "name": download.name,
            "state": download.state.value,
            "size": download.size,
            "target_count": download.target_count,
            "files_skipped": download.progress.files_skipped,
            "completed_at": download.completed_at.isoformat() if download.completed_at else None,
            "expires_at": download.expires_at.isoformat() if download.expires_at else None,
            "error": download.error.model_dump() if download.error else None,
            "url": url,
            "file_url": url_for("download_file", base, ending="/file", download_id=download.download_id)
            if base and download.state is DownloadState.COMPLETE
            else None,
        },
    }


# What SES's refusals mean for whoever reads the download's notification status.
_SES_REASONS = {
    "MessageRejected": "SES rejected the message: the sender (mail_from) must be verified, "
    "and in the SES sandbox every recipient too",
    "MailFromDomainNotVerifiedException": "the sender's domain (mail_from) is not verified in SES",
    "AccountSendingPausedException": "sending is paused for this AWS account in SES",
    "ConfigurationSetDoesNotExist": "the SES configuration set does not exist",
    "Throttling": "SES's sending rate or daily quota was exceeded",
    "ConfigurationSetSendingPausedException": "sending is paused for the SES configuration set",
}


def _status(state: str, event: str, reason: str | None = None) -> NotificationStatus:
    status = NotificationStatus.model_validate({"state": state, "event": event, "reason": reason})
    if state != "sent":
        logger.warning("notification not sent", extra={"state": state, "event": event, "reason": reason})
    return status


# Subjects are Carton's own words: what a client named the download appears only in the
# body, shortened and quoted, so a notification cannot be made to read like another message.
SUBJECTS = {"completed": "Your Carton download is ready", "failed": "Your Carton download failed"}
QUOTED_NAME_LENGTH = 80


def quoted(text: str, limit: int = QUOTED_NAME_LENGTH) -> str:
    shortened = text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
    return f"“{' '.join(shortened.split())}”"


def _shared_link(download: Download, store: Store) -> tuple[str, str] | None:
    """A share link for the e-mail's recipients, who may have no key (it lives as long as the
    archive, at most the default link life), and its id; None if the API's address is unknown."""
    base = settings().public_base_url or download.api_base_url
    if base is None:
        return None
    try:
        link, token = issue_link(download, store, created_by=download.created_by, base_url=base)
    except (Conflict, Gone):  # deleted or expired meanwhile: the mail says so without a link
        return None
    return shared_url(base, token), link.link_id


def _email(download: Download, event: str, document: dict[str, Any], store: Store) -> NotificationStatus | None:
    sender = settings().mail_from
    if sender is None:
        return _status("refused", event, "this deployment sends no e-mail: no sender (mail_from) is configured")
    recipients = list(dict.fromkeys([download.created_by_email, *download.options.notify.emails]))
    per_day = settings().mail_per_day
    if not store.take_mail_quota(download.account_id, mail_day(), len(recipients), per_day):
        return _status("refused", event, f"the account's daily e-mail limit ({per_day} recipients, UTC) is reached")
    name = quoted(download.name)
    if event == "completed":
        until = f" It can be fetched until {download.expires_at:%Y-%m-%d %H:%M} UTC." if download.expires_at else ""
        text = f"The download named {name} is packaged: {download.size or 0:,} bytes.{until}"
    else:
        reason = download.error.message if download.error else "unknown"
        text = f"The download named {name} could not be packaged: {reason}"
    shared = _shared_link(download, store) if event == "completed" else None
    link = shared[0] if shared else document["download"]["url"]
    try:
        aws.ses().send_email(
            Source=sender,
            Destination={"ToAddresses": recipients},
            Message={
                "Subject": {"Data": SUBJECTS[event], "Charset": "UTF-8"},
                "Body": {"Text": {"Data": text + (f"\n\n{link}\n" if link else "\n"), "Charset": "UTF-8"}},
            },
        )
    except ClientError as error:
        if shared is not None:  # nobody received it: it must not stay open
            store.revoke_link(download.account_id, download.download_id, shared[1])
        code = str(error.response.get("Error", {}).get("Code", "error"))
        return _status("failed", event, _SES_REASONS.get(code, f"SES did not send the message ({code})"))
    return _status("sent", event)


def _event(download: Download, event: str, document: dict[str, Any], store: Store) -> NotificationStatus | None:
    try:
        answer = aws.events().put_events(
            Entries=[
                {
                    "Source": "carton",
                    "DetailType": EVENTS[event],
                    "Detail": json.dumps(document["download"]),
                    "EventBusName": settings().event_bus,
                }
            ]
        )
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", "error"))
        return _status("failed", event, f"EventBridge did not accept the event ({code})")
    if answer.get("FailedEntryCount"):
        codes = [str(entry["ErrorCode"]) for entry in answer.get("Entries", []) if entry.get("ErrorCode")]
        return _status("failed", event, f"EventBridge did not accept the event ({codes[0] if codes else 'error'})")
    return _status("sent", event)


def _webhook(download: Download, event: str, document: dict[str, Any], store: Store) -> NotificationStatus | None:
    notify = download.options.notify
    if notify.webhook_url is None or notify.webhook_secret is None:
        return None
    body = json.dumps(document, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Carton-Webhook/1",
        "X-Carton-Event": document["event"],
        **webhook_headers(notify.webhook_secret, f"{download.download_id}.{event}", body, utcnow()),
    }
    policy = settings().fetch_policy
    try:
        status = post(notify.webhook_url, body, headers, policy)
    except UnsafeDestination as refused:
        return _status("refused", event, str(refused))  # never retried: it would be refused again
    except DeliveryFailed as failed:
        raise WebhookFailed(str(failed)) from failed
    if not 200 <= status < 300:
        return _status("failed", event, f"the endpoint answered HTTP {status}")
    return _status("sent", event)


Channel = Callable[[Download, str, dict[str, Any], Store], NotificationStatus | None]
CHANNELS: tuple[tuple[str, Channel], ...] = (("email", _email), ("event", _event), ("webhook", _webhook))


def notify(account_id: str, download_id: str, event: str, store: Store) -> dict[str, Any]:
    """Serve every channel not yet served for `event`, recording each one's outcome on the
    download. A webhook that could not be reached raises WebhookFailed after recording it,
    for the workflow to retry with backoff."""
    try:
        download = store.get_download(account_id, download_id)
    except NotFound:
        return {"account_id": account_id, "download_id": download_id, "notified": []}
    document = summary(download, event)
    done = list(download.notified)
    statuses = dict(download.notifications)
    try:
        for name, send in CHANNELS:
            channel = f"{event}:{name}"
            if channel in done:
                continue
            try:
                status = send(download, event, document, store)
            except WebhookFailed as failed:
                statuses[name] = _status("failed", event, f"{failed}; retried with backoff")
                raise
            if status is not None:
                statuses[name] = status
            done.append(channel)
    finally:
        if done != download.notified or statuses != download.notifications:
            store.update_download(
                account_id,
                download_id,
                expect=list(DownloadState),
                notified=done,
                notifications={name: status.model_dump(mode="json") for name, status in statuses.items()},
            )
    return {"account_id": account_id, "download_id": download_id, "notified": done}
