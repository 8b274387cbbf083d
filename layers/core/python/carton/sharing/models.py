"""A share link as stored: under its token's hash (what opening it looks up), with a
reference in its download's partition (what listing and removing its links read)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from carton.shared.fields import Model, utcnow

# Links last 7 days unless asked otherwise, never longer than the archive they open.
DEFAULT_LINK_DAYS = 7
MAX_LINK_DAYS = 30
TOKEN_PREFIX = "shr_"  # noqa: S105 (how share tokens begin, not a secret)


class ShareLink(Model):
    account_id: str
    download_id: str
    link_id: str
    token_hash: str
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None
    uses: int = 0
    # Where the link points (the API's address when it was made): e-mails and listings show it.
    base_url: str | None = None

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at
