"""Share links on the wire: what a client asks for and what it is shown (the token only
once, in the answer that creates the link)."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field

from carton.shared.fields import Model
from carton.sharing.models import DEFAULT_LINK_DAYS, MAX_LINK_DAYS, ShareLink
from carton.web.routes import url_for
from carton.web.shapes import ListOf


class CreateLinkRequest(Model):
    model_config = ConfigDict(extra="forbid")

    expires_in_days: int = Field(
        default=DEFAULT_LINK_DAYS,
        ge=1,
        le=MAX_LINK_DAYS,
        description=f"1 to {MAX_LINK_DAYS} (default {DEFAULT_LINK_DAYS}); never past the archive's own expiry",
    )


class LinkOut(Model):
    id: str
    url: str = Field(description="this link's resource (DELETE it to revoke the link)")
    download_id: str
    shared_url: str | None = Field(
        default=None, description="the link to hand out, which needs no key: only in the answer that creates it"
    )
    created_at: datetime
    expires_at: datetime
    revoked: bool
    uses: int = Field(description="how often it was opened")

    @classmethod
    def of(cls, link: ShareLink, base_url: str, token: str | None = None) -> LinkOut:
        return cls(
            id=link.link_id,
            url=url_for("delete_link", base_url, download_id=link.download_id, link_id=link.link_id),
            download_id=link.download_id,
            shared_url=None if token is None else shared_url(base_url, token),
            created_at=link.created_at,
            expires_at=link.expires_at,
            revoked=link.revoked_at is not None,
            uses=link.uses,
        )


def shared_url(base_url: str, token: str) -> str:
    return url_for("open_shared_link", base_url, token=token)


LinkList = ListOf[LinkOut]
