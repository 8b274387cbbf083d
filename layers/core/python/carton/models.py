"""Typed records and API shapes (pydantic v2)."""

from __future__ import annotations

import ipaddress
import string
from collections import Counter
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar, get_args
from unicodedata import category as unicodedata_category
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from carton.shared.config import loopback_fetches_allowed
from carton.shared.safehttp import is_public

MAX_ASSETS_PER_DOWNLOAD = 10_000
MAX_NAME_LENGTH = 200


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class Principal(BaseModel):
    """Who is calling, as the authorizer established it."""

    model_config = ConfigDict(frozen=True)

    account_id: str
    user_id: str
    role: Role
    token_id: str
    # None: every download type is allowed.
    download_types: tuple[str, ...] | None = None

    def may_create(self, download_type: str) -> bool:
        return self.download_types is None or download_type in self.download_types


class User(BaseModel):
    account_id: str
    user_id: str
    email: str
    role: Role
    created_at: datetime = Field(default_factory=utcnow)


Language = Literal["en", "de", "fr", "es"]
MAX_TEXT = 5000
# Line breaks and tabs are text; other control characters are not (XML cannot even carry
# most of them), so they are refused where they arrive rather than stored.
_TEXT_CONTROLS = frozenset("\t\n\r")


def _no_controls(allowed: frozenset[str]) -> AfterValidator:
    def check(value: str) -> str:
        if any(unicodedata_category(ch) == "Cc" and ch not in allowed for ch in value):
            refused = (
                "line breaks and tabs are the only control characters allowed" if allowed else "no control characters"
            )
            raise ValueError(refused)
        return value

    return AfterValidator(check)


# One line of text (names, titles, tags) and free text (descriptions, notes).
Line = Annotated[str, _no_controls(frozenset())]
Text = Annotated[str, _no_controls(_TEXT_CONTROLS)]


class Translation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: Language
    title: Line | None = Field(default=None, max_length=MAX_NAME_LENGTH)
    description: Text | None = Field(default=None, max_length=MAX_TEXT)
    tags: list[Annotated[Line, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=100)

    @field_validator("tags")
    @classmethod
    def _private_first(cls, tags: list[str]) -> list[str]:
        """Order is kept, but private tags ($...) move to the front (as OrbitKit does)."""
        return [tag for tag in tags if tag.startswith("$")] + [tag for tag in tags if not tag.startswith("$")]


Filename = Annotated[str, Field(min_length=1, max_length=255)]


class AssetMetadata(BaseModel):
    """What a client says about an asset (and may replace with PUT)."""

    model_config = ConfigDict(extra="forbid")

    filename: Filename
    translations: list[Translation] = Field(default_factory=list, max_length=4)
    note: Text | None = Field(default=None, max_length=MAX_TEXT)
    mature: bool = Field(default=False, strict=True)

    @field_validator("filename")
    @classmethod
    def _no_path(cls, name: str) -> str:
        if not name.strip() or any(unicodedata_category(ch) == "Cc" for ch in name):
            raise ValueError("a file name without control characters")
        return name

    @field_validator("translations")
    @classmethod
    def _one_per_language(cls, translations: list[Translation]) -> list[Translation]:
        languages = [translation.language for translation in translations]
        if len(set(languages)) != len(languages):
            raise ValueError("one translation per language")
        return translations

    def title(self, culture: str | None) -> str | None:
        language = (culture or "en").split("-", 1)[0].lower()
        found: dict[str, str] = {t.language: t.title for t in self.translations if t.title}
        return found.get(language) or found.get("en") or next(iter(found.values()), None)


class Asset(AssetMetadata):
    model_config = ConfigDict(extra="ignore")

    account_id: str
    asset_id: str
    content_type: str
    size: int
    sha256: str
    crc32: int
    etag: str
    s3_key: str
    width: int | None = None
    height: int | None = None
    batch: datetime = Field(default_factory=lambda: datetime.now(UTC))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    deleted: bool = False
    # The upload it was ingested from, if any: a second delivery of that upload's event
    # that lost the race to create it is the same upload, not a duplicate.
    upload_id: str | None = None


class ReplaceAssetRequest(AssetMetadata):
    """PUT replaces everything: each field must be sent (a left-out translation is removed)."""

    translations: list[Translation] = Field(max_length=4)
    note: str | None = Field(max_length=MAX_TEXT)
    mature: bool


class Derived(BaseModel):
    """A rendition or conversion of an asset, stored once and reused."""

    account_id: str
    asset_id: str
    spec_id: str
    label: str
    source_etag: str  # the original it was made from; a changed original is made again
    s3_key: str
    etag: str
    content_type: str
    extension: str
    size: int
    sha256: str
    crc32: int
    width: int
    height: int
    created_at: datetime = Field(default_factory=utcnow)


class ImportAssetRequest(AssetMetadata):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    art: str = Field(min_length=1, description="an https URL to fetch, or the file's bytes in base64")
    content_type: str | None = Field(
        default=None,
        validation_alias=AliasChoices("content_type", "contentType"),
        max_length=100,
        description="required with base64 art",
    )
    batch: datetime | None = Field(default=None, description="ISO 8601 UTC with milliseconds; default now")
    update: bool = Field(
        default=False, strict=True, description="on a duplicate, replace filename, note and translations first"
    )

    @field_validator("batch")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() != timedelta(0):
            raise ValueError("batch must be in UTC (end it with Z)")
        return value


class UploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: Filename
    content_type: str = Field(min_length=3, max_length=100)
    size: int = Field(ge=1, le=5 * 1024**3, description="bytes; at most 5 GiB (one S3 PUT)")


class UploadState(StrEnum):
    PENDING = "pending"
    INGESTED = "ingested"
    REJECTED = "rejected"
    # Shown, not stored: still pending long after its ticket expired (nothing came, or the
    # file was removed before it could be ingested).
    EXPIRED = "expired"


class Upload(BaseModel):
    account_id: str
    upload_id: str
    filename: str
    content_type: str
    size: int
    created_by: str
    state: UploadState = UploadState.PENDING
    asset_id: str | None = None
    duplicate: bool = False
    reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class DownloadState(StrEnum):
    PENDING = "pending"
    PACKAGING = "packaging"
    COMPLETE = "complete"
    FAILED = "failed"
    EXPIRED = "expired"


class Progress(BaseModel):
    files_total: int = 0
    files_done: int = 0
    files_skipped: int = 0
    bytes_total: int = 0
    bytes_done: int = 0


class DownloadError(BaseModel):
    code: str
    message: str


class NotificationStatus(BaseModel):
    """What became of one channel's notice: sent, failed (with why; a webhook is retried
    with backoff meanwhile) or refused (it may never be sent, with why)."""

    state: Literal["sent", "failed", "refused"]
    event: Literal["completed", "failed"]
    reason: str | None = None
    at: datetime = Field(default_factory=utcnow)


Layout = Literal["flat", "folders"]


MediaGroup = Literal["image", "video", "document", "other"]
MEDIA_GROUPS: tuple[str, ...] = get_args(MediaGroup)
NamedRendition = Literal["original", "preview", "thumbnail"]
NAME_TEMPLATE_FIELDS = ("filename", "stem", "ext", "key", "title", "position")
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$"
MAX_NOTIFY_EMAILS = 20
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class Conversion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["jpeg", "png", "webp"]
    max_width: int | None = Field(default=None, ge=1, le=20_000)
    max_height: int | None = Field(default=None, ge=1, le=20_000)
    quality: int | None = Field(default=None, ge=1, le=100)


class RenditionSpec(BaseModel):
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


class Renditions(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    global_: dict[MediaGroup, RenditionSpec] = Field(default_factory=dict, alias="global")
    individual: dict[str, RenditionSpec] = Field(default_factory=dict)

    def for_asset(self, asset_id: str, group: MediaGroup) -> RenditionSpec:
        return self.individual.get(asset_id) or self.global_.get(group) or ORIGINAL

    @property
    def has_conversions(self) -> bool:
        specs = [*self.global_.values(), *self.individual.values()]
        return any(spec.conversion is not None for spec in specs)


class Notify(BaseModel):
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


class DownloadOptions(BaseModel):
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


class Download(BaseModel):
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

    @property
    def complete(self) -> bool:
        return self.state is DownloadState.COMPLETE


class TargetState(StrEnum):
    PLANNED = "planned"
    PACKED = "packed"
    SKIPPED = "skipped"
    FAILED = "failed"


class Target(BaseModel):
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


# ---- API input ------------------------------------------------------------------------

AssetId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class CreateDownloadRequest(DownloadOptions):
    asset_ids: list[AssetId] = Field(
        validation_alias=AliasChoices("asset_ids", "presentation_ids"),
        min_length=1,
        max_length=MAX_ASSETS_PER_DOWNLOAD,
        description=f"1 to {MAX_ASSETS_PER_DOWNLOAD:,} unique asset ids of the caller's account",
    )
    name: Line | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    zip_filename: Line | None = Field(default=None, min_length=5, max_length=MAX_NAME_LENGTH)
    layout: Layout = "flat"
    download_type: Line = Field(default="archive", min_length=1, max_length=64)

    @model_validator(mode="before")
    @classmethod
    def _format_flat_alias(cls, data: Any) -> Any:
        # Orbitvu's `format_flat` 1|0 means layout flat|folders.
        if isinstance(data, dict) and "format_flat" in data:
            data = dict(data)
            flat = data.pop("format_flat")
            if flat not in (0, 1, "0", "1", True, False):
                raise ValueError("format_flat must be 1 (flat) or 0 (folders)")
            if "layout" in data:
                raise ValueError("give either layout or format_flat, not both")
            data["layout"] = "flat" if str(int(flat)) == "1" else "folders"
        return data

    @field_validator("asset_ids")
    @classmethod
    def _unique(cls, ids: list[str]) -> list[str]:
        duplicates = sorted(asset_id for asset_id, count in Counter(ids).items() if count > 1)
        if duplicates:
            raise ValueError(f"asset ids must be unique; repeated: {', '.join(duplicates[:10])}")
        return ids

    @field_validator("zip_filename")
    @classmethod
    def _zip_suffix(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().endswith(".zip"):
            raise ValueError("zip_filename must end in .zip")
        return value

    @model_validator(mode="after")
    def _individual_are_requested(self) -> CreateDownloadRequest:
        strangers = sorted(set(self.renditions.individual) - set(self.asset_ids))
        if strangers:
            raise ValueError(f"renditions.individual names assets not in asset_ids: {', '.join(strangers[:10])}")
        return self

    def options(self) -> DownloadOptions:
        return DownloadOptions.model_validate(self.model_dump(include=set(DownloadOptions.model_fields), by_alias=True))


# ---- API output -----------------------------------------------------------------------


class Link(BaseModel):
    id: str
    email: str
    url: str


class NotifyOut(BaseModel):
    emails: list[str]
    webhook_url: str | None


class DownloadOut(BaseModel):
    id: str
    url: str
    name: str
    zip_filename: str
    file_name: str
    download_type: str
    state: DownloadState
    complete: bool
    progress: Progress
    target_count: int
    has_conversions: bool
    assets: list[str]
    layout: Layout
    culture: str | None
    name_template: str
    renditions: dict[str, Any]
    include_manifest: bool
    on_missing: str
    notify: NotifyOut
    size: int | None
    is_file_exists: bool
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    expires_at: datetime | None
    error: DownloadError | None
    notifications: dict[str, NotificationStatus] = Field(
        description="per channel (email, webhook, event): sent, failed or refused, with the reason"
    )
    created_by: Link
    user_email: str
    user_url: str
    download_url: str | None
    file_url: str | None


ItemT = TypeVar("ItemT", bound=BaseModel)


class ListOf(BaseModel, Generic[ItemT]):
    """The envelope every list answers with; next/previous carry cursors."""

    count: int | None
    next: str | None
    previous: str | None
    results: list[ItemT]


class ErrorBody(BaseModel):
    message: str
    errors: dict[str, list[str]] = Field(default_factory=dict)


class TargetOut(BaseModel):
    asset_id: str
    url: str
    position: int
    rendition: str
    path: str | None
    size: int | None
    crc32: str | None  # 8 hex digits, as zip tools print it
    sha256: str | None
    state: TargetState
    reason: str | None


DownloadType = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class CreateUserRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    role: Role = Role.MEMBER


ACCOUNT_NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
# A DNS name: labels of letters, digits and inner hyphens, at least one dot.
DOMAIN_PATTERN = r"^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
MAX_NOTIFY_DOMAINS = 50


class Account(BaseModel):
    account_id: str
    name: str
    # Besides the account's own users, notification e-mails may go to these domains only.
    notify_domains: list[str] = Field(default_factory=list)
    created_at: datetime | None = None


class AccountSettings(BaseModel):
    """What an account's admins decide (PUT replaces it whole)."""

    model_config = ConfigDict(extra="forbid")

    notify_domains: list[Annotated[str, Field(max_length=253, pattern=DOMAIN_PATTERN)]] = Field(
        max_length=MAX_NOTIFY_DOMAINS,
        description="domains (lowercase, e.g. partner.example) that notify.emails may name besides the "
        "account's own users; subdomains are not included",
    )

    @field_validator("notify_domains")
    @classmethod
    def _each_once(cls, domains: list[str]) -> list[str]:
        if len(set(domains)) != len(domains):
            raise ValueError("each domain once")
        return domains


class AccountOut(BaseModel):
    id: str
    url: str
    name: str
    notify_domains: list[str]
    mail_per_day: int = Field(description="notification e-mails (recipients) this account may send per UTC day")
    mail_today: int = Field(description="recipients e-mailed so far today (UTC)")


class CreateAccountRequest(BaseModel):
    """What an operator gives `make account` (the IAM-only admin function)."""

    model_config = ConfigDict(extra="forbid")

    account: str = Field(
        pattern=ACCOUNT_NAME_PATTERN,
        description="1-63 lowercase letters, digits and inner hyphens",
    )
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN, description="the first admin's e-mail")


class UserOut(BaseModel):
    id: str
    url: str
    email: str
    role: Role
    created_at: datetime


class TokenRecord(BaseModel):
    """What an admin can see about a key: never the secret, only a reference to its hash."""

    account_id: str
    token_id: str
    token_hash: str
    user_id: str
    name: str | None = None
    download_types: tuple[str, ...] | None = None
    created_at: datetime = Field(default_factory=utcnow)


class CreateTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str | None = Field(default=None, min_length=1, max_length=64, description="default: the caller")
    name: Line | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    download_types: list[DownloadType] | None = Field(
        default=None, min_length=1, max_length=20, description="limit the key to these download types"
    )


class TokenOut(BaseModel):
    id: str
    url: str
    user_id: str
    name: str | None
    download_types: list[str] | None
    created_at: datetime
    token: str | None = Field(default=None, description="the secret; shown once, when the key is created")


DownloadList = ListOf[DownloadOut]
TargetList = ListOf[TargetOut]
UserList = ListOf[UserOut]


class AssetOut(BaseModel):
    key: str
    url: str
    filename: str
    content_type: str
    media_type: str
    size: int
    sha256: str
    crc32: str  # 8 hex digits
    width: int | None
    height: int | None
    batch: datetime
    translations: list[Translation]
    note: str | None
    mature: bool
    created_at: datetime
    updated_at: datetime
    downloads_url: str


class UploadOut(BaseModel):
    id: str
    url: str
    state: UploadState
    filename: str
    content_type: str
    size: int
    asset: str | None = Field(description="the asset key, once ingested")
    asset_url: str | None
    duplicate: bool
    reason: str | None
    upload_url: str | None = Field(
        default=None,
        description="Where to send the file (only in the answer to POST): a multipart/form-data POST of "
        "every upload_fields entry, in order, then the file as the last part, named `file`",
    )
    upload_method: Literal["POST"] | None = None
    upload_fields: dict[str, str] | None = Field(
        default=None, description="Form fields S3 checks: key, content type, the exact size, the signature"
    )
    expires_at: datetime | None = Field(default=None, description="the form is refused after this time")


AssetList = ListOf[AssetOut]
