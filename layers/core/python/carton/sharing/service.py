"""Share links: made by a download's creator or an account admin (or by Carton, for the
e-mail that announces a finished download), opened by anyone who has one."""

from __future__ import annotations

import secrets
from datetime import timedelta

from carton.accounts.keys import token_hash
from carton.accounts.models import Principal
from carton.downloads.models import Download, DownloadState
from carton.downloads.service import presigned_archive, readable_download
from carton.shared.errors import Conflict, Gone, NotFound
from carton.shared.fields import utcnow
from carton.sharing.api import CreateLinkRequest
from carton.sharing.models import DEFAULT_LINK_DAYS, TOKEN_PREFIX, ShareLink
from carton.store import Store

MAX_TOKEN_LENGTH = 100
UNKNOWN_LINK = NotFound("Link not found", {"token": ["no such link"]})


def issue_link(
    download: Download, store: Store, *, created_by: str, base_url: str | None, days: int = DEFAULT_LINK_DAYS
) -> tuple[ShareLink, str]:
    """A new link to the download's archive, and its token (never stored: only its hash)."""
    if download.state is DownloadState.EXPIRED or (download.expires_at and download.expires_at <= utcnow()):
        raise Gone("The archive has expired", {"download_id": ["archive removed; create the download again"]})
    if download.state is not DownloadState.COMPLETE or download.expires_at is None:
        raise Conflict(
            "The archive is not ready",
            {"state": [f"download is {download.state.value}; links can be made once it is complete"]},
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(24)
    link = ShareLink(
        account_id=download.account_id,
        download_id=download.download_id,
        link_id="l" + secrets.token_hex(8),
        token_hash=token_hash(token),
        created_by=created_by,
        expires_at=min(utcnow() + timedelta(days=days), download.expires_at),
        base_url=base_url,
    )
    store.put_link(link)
    return link, token


def create_link(
    principal: Principal, download_id: str, request: CreateLinkRequest, store: Store, base_url: str
) -> tuple[ShareLink, str]:
    download = readable_download(principal, download_id, store)
    return issue_link(download, store, created_by=principal.user_id, base_url=base_url, days=request.expires_in_days)


def list_links(principal: Principal, download_id: str, store: Store) -> list[ShareLink]:
    readable_download(principal, download_id, store)
    return store.links_of(principal.account_id, download_id)


def revoke_link(principal: Principal, download_id: str, link_id: str, store: Store) -> ShareLink:
    readable_download(principal, download_id, store)
    return store.revoke_link(principal.account_id, download_id, link_id)


def open_link(token: str, store: Store) -> str:
    """A presigned GET of the archive the link opens, the use counted; 410 once the link
    was revoked or expired, or its download was deleted or expired."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        raise UNKNOWN_LINK
    link = store.link_by_hash(token_hash(token))
    if link is None:
        raise UNKNOWN_LINK
    if link.revoked_at is not None:
        raise Gone("This link was revoked", {"token": [f"revoked at {link.revoked_at:%Y-%m-%d %H:%M} UTC"]})
    if not link.usable(utcnow()):
        raise Gone("This link has expired", {"token": [f"expired at {link.expires_at:%Y-%m-%d %H:%M} UTC"]})
    try:
        download = store.get_download(link.account_id, link.download_id)
    except NotFound:
        raise Gone("The download was deleted", {"token": ["its download no longer exists"]}) from None
    url = presigned_archive(download)
    store.count_use(link)
    return url
