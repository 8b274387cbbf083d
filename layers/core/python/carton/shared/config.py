"""Runtime configuration read from the environment.

The environment variable names are defined here once: the CDK constructs set them on
every function and the local stack sets them on its own process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from carton.shared.safehttp import Policy


ENV_TABLE = "CARTON_TABLE_NAME"
ENV_ASSETS_BUCKET = "CARTON_ASSETS_BUCKET"
ENV_ARCHIVES_BUCKET = "CARTON_ARCHIVES_BUCKET"
ENV_STATE_MACHINE = "CARTON_STATE_MACHINE_ARN"
ENV_ARCHIVE_EXPIRY_DAYS = "CARTON_ARCHIVE_EXPIRY_DAYS"
ENV_PUBLIC_BASE_URL = "CARTON_PUBLIC_BASE_URL"
ENV_MAIL_FROM = "CARTON_MAIL_FROM"
ENV_EVENT_BUS = "CARTON_EVENT_BUS"
# A developer's opt-in, never set on AWS: URL imports and webhooks may reach plain http on
# loopback (a receiver or an origin on the same machine, as the tests run them).
ENV_ALLOW_LOOPBACK_FETCHES = "CARTON_ALLOW_LOOPBACK_FETCHES"
# Notification e-mails an account may send per UTC day (recipients, not messages).
ENV_MAIL_PER_DAY = "CARTON_MAIL_PER_DAY"
DEFAULT_MAIL_PER_DAY = 500
# Browser origins allowed to call the API and the buckets (comma-separated; empty: none).
ENV_CORS_ORIGINS = "CARTON_CORS_ORIGINS"
# Signs list cursors (tamper-evident paging links).
ENV_CURSOR_KEY = "CARTON_CURSOR_KEY"
# Uploads over this many bytes get a multipart ticket (presigned parts) instead of one form.
ENV_MULTIPART_THRESHOLD = "CARTON_MULTIPART_THRESHOLD"
DEFAULT_MULTIPART_THRESHOLD = 100 * 1024 * 1024

DEFAULT_ARCHIVE_EXPIRY_DAYS = 7
# Presigned archive links are handed out per request, so they can be short-lived.
PRESIGNED_URL_TTL_SECONDS = 15 * 60


def parse_origins(text: str) -> tuple[str, ...]:
    """`https://a.example, https://b.example` (commas or spaces) -> each origin once."""
    return tuple(dict.fromkeys(origin.rstrip("/") for origin in text.replace(",", " ").split()))


@dataclass(frozen=True)
class Settings:
    table_name: str
    assets_bucket: str
    archives_bucket: str
    state_machine_arn: str
    archive_expiry_days: int
    public_base_url: str | None
    cursor_key: bytes
    mail_from: str | None
    event_bus: str
    allow_loopback_fetches: bool
    cors_origins: tuple[str, ...]
    mail_per_day: int
    multipart_threshold: int

    @property
    def fetch_policy(self) -> Policy:
        """What Carton's own outbound requests (URL imports, webhooks) may reach. Built on
        use: safehttp loads ssl, which functions that never fetch should not pay for."""
        from carton.shared.safehttp import Policy

        return Policy(allow_loopback=self.allow_loopback_fetches)


def loopback_fetches_allowed() -> bool:
    """The one reading of ENV_ALLOW_LOOPBACK_FETCHES (request models check it without the
    rest of the settings, which need the deployment's environment)."""
    return os.environ.get(ENV_ALLOW_LOOPBACK_FETCHES) == "1"


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings(
        table_name=os.environ[ENV_TABLE],
        assets_bucket=os.environ.get(ENV_ASSETS_BUCKET, ""),
        archives_bucket=os.environ.get(ENV_ARCHIVES_BUCKET, ""),
        state_machine_arn=os.environ.get(ENV_STATE_MACHINE, ""),
        archive_expiry_days=int(os.environ.get(ENV_ARCHIVE_EXPIRY_DAYS, DEFAULT_ARCHIVE_EXPIRY_DAYS)),
        public_base_url=os.environ.get(ENV_PUBLIC_BASE_URL) or None,
        # Without a configured key (tests), cursors are still checksummed, just not secret.
        cursor_key=(os.environ.get(ENV_CURSOR_KEY) or f"carton:{os.environ[ENV_TABLE]}").encode(),
        # No sender configured: e-mail notifications are refused, with that reason, not sent.
        mail_from=os.environ.get(ENV_MAIL_FROM) or None,
        event_bus=os.environ.get(ENV_EVENT_BUS) or "default",
        allow_loopback_fetches=loopback_fetches_allowed(),
        cors_origins=parse_origins(os.environ.get(ENV_CORS_ORIGINS, "")),
        mail_per_day=int(os.environ.get(ENV_MAIL_PER_DAY) or DEFAULT_MAIL_PER_DAY),
        multipart_threshold=int(os.environ.get(ENV_MULTIPART_THRESHOLD) or DEFAULT_MULTIPART_THRESHOLD),
    )
