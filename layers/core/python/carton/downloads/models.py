"""Downloads, their packaging options and targets as stored."""

from __future__ import annotations

import ipaddress
import string
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, field_validator, model_validator

from carton.shared.config import loopback_fetches_allowed
from carton.shared.fields import EMAIL_PATTERN, MAX_NAME_LENGTH, Line, Model, utcnow
from carton.shared.media import MediaGroup
from carton.shared.safehttp import is_public


class DownloadState(StrEnum):
    PENDING = "pending"
    PACKAGING = "packaging"
    COMPLETE = "complete"
    FAILED = "failed"
    EXPIRED = "expired"


class Progress(Model):
    files_total: int = 0
    files_done: int = 0
    files_skipped: int = 0
    bytes_total: int = 0
    bytes_done: int = 0


class DownloadError(Model):
    code: str
    message: str


class NotificationStatus(Model):
    """What became of one channel's notice: sent, failed (with why; a webhook is retried
    with backoff meanwhile) or refused (it may never be sent, with why)."""

    state: Literal["sent", "failed", "refused"]
    event: Literal["completed", "failed"]
    reason: str | None = None
    at: datetime = Field(default_factory=utcnow)


Layout = Literal["flat", "folders"]


NamedRendition = Literal["original", "preview", "thumbnail"]


NAME_TEMPLATE_FIELDS = ("filename", "stem", "ext", "key", "title", "position")


MAX_NOTIFY_EMAILS = 20


_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class Conversion(Model):
    model_config = ConfigDict(extra="forbid")

    format: Literal["jpeg", "png", "webp"]
    max_width: int | None = Field(default=None, ge=1, le=20_000)
    max_height: int | None = Field(default=None, ge=1, le=20_000)
    quality: int | None = Field(default=None, ge=1, le=100)


class RenditionSpec(Model):
    """Either a named rendition or a conversion."""

    model_config = ConfigDict(extra="forbid")

    rendition: NamedRendition | None = None
    conversion: Conversion | None = None

    @model_validator(mode="after")
    def _one_of(self) -> RenditionSpec:
        if (self.rendition is None) == (self.conversion is None):
            raise ValueError("give exactly one of rendition or conversion")
        return self

    @property
    def is_original(self) -> bool:
        return self.rendition == "original"

    def label(self) -> str:
        if self.conversion is None:
            return str(self.rendition)
        c = self.conversion
        size = f" {c.max_width or ''}x{c.max_height or ''}" if c.max_width or c.max_height else ""
        return f"{c.format}{size}" + (f" q{c.quality}" if c.quality else "")


ORIGINAL = RenditionSpec(rendition="original")


class Renditions(Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    global_: dict[MediaGroup, RenditionSpec] = Field(default_factory=dict, alias="global")
    individual: dict[str, RenditionSpec] = Field(default_factory=dict)

    def for_asset(self, asset_id: str, group: MediaGroup) -> RenditionSpec:
        return self.individual.get(asset_id) or self.global_.get(group) or ORIGINAL

    @property
    def has_conversions(self) -> bool:
        specs = [*self.global_.values(), *self.individual.values()]
        return any(spec.conversion is not None for spec in specs)


class Notify(Model):
    model_config = ConfigDict(extra="forbid")

    emails: list[Annotated[str, Field(max_length=254, pattern=EMAIL_PATTERN)]] = Field(
        default_factory=list, max_length=MAX_NOTIFY_EMAILS
    )
    webhook_url: str | None = Field(default=None, max_length=2000)
    # Shared with the receiver, which checks webhook-signature with it; never shown back.
    webhook_secret: str | None = Field(default=None, min_length=16, max_length=256, repr=False)

    @field_validator("webhook_url")
    @classmethod
    def _public_https(cls, url: str | None) -> str | None:
        if url is None:
            return url
        parts = urlsplit(url)
        host = parts.hostname or ""
        if not host or any(ch.isspace() for ch in url):
            raise ValueError("not a URL")
        if parts.username is not None or parts.password is not None:
            raise ValueError("no credentials in webhook_url: the signature (webhook_secret) authenticates Carton")
        if parts.scheme == "http" and host in _LOOPBACK_HOSTS and loopback_fetches_allowed():
            return url  # a developer's own receiver, on the local stack only
        if parts.scheme != "https":
            raise ValueError("webhook_url must be an https URL")
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            return url  # a name: checked again when it is resolved, before every call
        if not is_public(literal):
            raise ValueError("webhook_url must point at a public address")
        return url

    @model_validator(mode="after")
    def _secret_with_url(self) -> Notify:
        if (self.webhook_url is None) != (self.webhook_secret is None):
            raise ValueError("webhook_url and webhook_secret go together")
        if len({email.casefold() for email in self.emails}) != len(self.emails):
            raise ValueError("each e-mail address once")
        return self


# No deployment keeps archives longer (infra/settings.py checks archive_expiry_days against it).
MAX_EXPIRY_DAYS = 365
# The archive formats a client may ask for (carton.packaging.formats has one of each).
ArchiveFormatName = Literal["zip", "tar"]


class DownloadOptions(Model):
    """How a download is packaged and announced; stored with the download."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    renditions: Renditions = Field(default_factory=Renditions)
    name_template: Line = Field(
        default="{filename}",
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        description="archive path of each file; fields: " + ", ".join("{" + f + "}" for f in NAME_TEMPLATE_FIELDS),
    )
    culture: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[A-Za-z]{2,4})?$")
    notify: Notify = Field(default_factory=Notify)
    include_manifest: bool = Field(default=True, strict=True)
    on_missing: Literal["skip", "fail"] = "skip"
    expires_in_days: int | None = Field(
        default=None,
        ge=1,
        le=MAX_EXPIRY_DAYS,
        description="the archive's life in days (default and most: the deployment's, 7 unless set otherwise)",
    )
    format: ArchiveFormatName = Field(
        default="zip", description="zip, or tar (POSIX pax); both store files as they are, a manifest.json last"
    )

    @field_validator("name_template")
    @classmethod
    def _known_fields(cls, template: str) -> str:
        try:
            parts = list(string.Formatter().parse(template))
        except ValueError as error:
            raise ValueError(f"not a template: {error}") from error
        for _, field, spec, conversion in parts:
            if field is None:
                continue
            if field not in NAME_TEMPLATE_FIELDS or spec or conversion:
                raise ValueError(
                    f"unknown field {{{field}}}; use " + ", ".join("{" + f + "}" for f in NAME_TEMPLATE_FIELDS)
                )
        return template


class Download(Model):
    account_id: str
    download_id: str
    created_by: str
    created_by_email: str
    name: str
    zip_filename: str
    layout: Layout
    download_type: str
    asset_ids: list[str]
    state: DownloadState = DownloadState.PENDING
    progress: Progress = Field(default_factory=Progress)
    target_count: int = 0
    size: int | None = None
    archive_key: str | None = None
    upload_id: str | None = None
    error: DownloadError | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    completed_at: datetime | None = None
    expires_at: datetime | None = None
    options: DownloadOptions = Field(default_factory=DownloadOptions)
    has_conversions: bool = False
    # Notification channels already served, so a retried notification repeats none.
    notified: list[str] = Field(default_factory=list)
    # The latest outcome per channel ("email", "webhook", "event").
    notifications: dict[str, NotificationStatus] = Field(default_factory=dict)
    # Set by DELETE before it removes anything: from then on no step changes the download,
    # and a DELETE retried (or the sweeper) finishes what an interrupted one began.
    deleting_since: datetime | None = None
    # The API's address as its creator called it: where the links e-mails carry point.
    api_base_url: str | None = None

    @property
    def complete(self) -> bool:
        return self.state is DownloadState.COMPLETE


class TargetState(StrEnum):
    PLANNED = "planned"
    PACKED = "packed"
    SKIPPED = "skipped"
    FAILED = "failed"


class Target(Model):
    """One asset's place in a download's archive."""

    download_id: str
    asset_id: str
    position: int
    rendition: str = "original"
    path: str | None = None
    size: int | None = None
    crc32: int | None = None
    sha256: str | None = None
    source_key: str | None = None
    source_etag: str | None = None
    state: TargetState = TargetState.PLANNED
    reason: str | None = None
