"""Telling people a download finished or failed: e-mail (SES), a signed webhook, and an
EventBridge event. Each channel is served once: the download remembers which are done,
so the workflow can retry a failed webhook (with backoff) without e-mailing twice."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from carton import aws
from carton.config import settings
from carton.errors import NotFound
from carton.models import Download, DownloadState
from carton.observability import logger
from carton.routes import API_PREFIX
from carton.safehttp import DeliveryFailed, Policy, UnsafeDestination, post
from carton.store import Store

EVENTS = {"completed": "Download Completed", "failed": "Download Failed"}
SIGNATURE_HEADER = "X-Carton-Signature"


class WebhookFailed(Exception):
    """The webhook could not be delivered this time; the workflow retries with backoff."""


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def summary(download: Download, event: str) -> dict[str, Any]:
    base = settings().public_base_url
    url = f"{base}{API_PREFIX}/downloads/{download.download_id}" if base else None
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
            "file_url": f"{url}/file" if url and download.state is DownloadState.COMPLETE else None,
        },
    }


def _email(download: Download, event: str, document: dict[str, Any]) -> None:
    recipients = list(dict.fromkeys([download.created_by_email, *download.options.notify.emails]))
    if event == "completed":
        subject = f"Your download “{download.name}” is ready"
        until = f", until {download.expires_at:%Y-%m-%d %H:%M} UTC" if download.expires_at else ""
        text = f"“{download.name}” is packaged: {download.size or 0:,} bytes{until}."
    else:
        subject = f"Your download “{download.name}” failed"
        text = f"“{download.name}” could not be packaged: {download.error.message if download.error else 'unknown'}."
    link = document["download"]["file_url"] or document["download"]["url"]
    aws.ses().send_email(
        Source=settings().mail_from,
        Destination={"ToAddresses": recipients},
        Message={
            "Subject": {"Data": subject, "Charset": "UTF-8"},
            "Body": {"Text": {"Data": text + (f"\n\n{link}\n" if link else "\n"), "Charset": "UTF-8"}},
        },
    )


def _event(download: Download, event: str, document: dict[str, Any]) -> None:
    aws.events().put_events(
        Entries=[
            {
                "Source": "carton",
                "DetailType": EVENTS[event],
                "Detail": json.dumps(document["download"]),
                "EventBusName": settings().event_bus,
            }
        ]
    )


def _webhook(download: Download, event: str, document: dict[str, Any]) -> None:
    notify = download.options.notify
    if notify.webhook_url is None or notify.webhook_secret is None:
        return
    body = json.dumps(document, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Carton-Webhook/1",
        "X-Carton-Event": document["event"],
        SIGNATURE_HEADER: signature(notify.webhook_secret, body),
    }
    policy = Policy(allow_loopback=settings().webhook_allow_loopback)
    try:
        status = post(notify.webhook_url, body, headers, policy)
    except UnsafeDestination as refused:
        logger.warning("webhook refused", extra={"download_id": download.download_id, "reason": str(refused)})
        return  # never retried: it would be refused again
    except DeliveryFailed as failed:
        raise WebhookFailed(str(failed)) from failed
    if not 200 <= status < 300:
        logger.warning("webhook rejected", extra={"download_id": download.download_id, "status": status})


CHANNELS = (("email", _email), ("event", _event), ("webhook", _webhook))


def notify(account_id: str, download_id: str, event: str, store: Store) -> dict[str, Any]:
    try:
        download = store.get_download(account_id, download_id)
    except NotFound:
        return {"account_id": account_id, "download_id": download_id, "notified": []}
    document = summary(download, event)
    done = list(download.notified)
    try:
        for name, send in CHANNELS:
            channel = f"{event}:{name}"
            if channel not in done:
                send(download, event, document)
                done.append(channel)
    finally:
        if done != download.notified:
            store.update_download(account_id, download_id, expect=list(DownloadState), notified=done)
    return {"account_id": account_id, "download_id": download_id, "notified": done}
