"""Assets, their renditions and uploads as stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal
from unicodedata import category as unicodedata_category

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from carton.shared.config import PRESIGNED_URL_TTL_SECONDS
from carton.shared.fields import MAX_NAME_LENGTH, MAX_TEXT, Line, Text, utcnow

Language = Literal["en", "de", "fr", "es"]


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


def _utc(value: datetime) -> datetime:
    if value.utcoffset() != timedelta(0):
        raise ValueError("batch must be in UTC (end it with Z)")
    return value


# When assets were brought in together (OrbitKit's batch): an ISO 8601 time in UTC.
Batch = Annotated[datetime, AfterValidator(_utc)]


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


class UploadState(StrEnum):
    PENDING = "pending"
    INGESTED = "ingested"
    REJECTED = "rejected"
    # Shown, not stored: still pending long after its ticket expired (nothing came, or the
    # file was removed before it could be ingested).
    EXPIRED = "expired"


# How long after its ticket expired a pending upload may still be ingested (S3 events
# and the ingest queue can lag); after that it is shown as expired.
INGEST_GRACE = timedelta(minutes=15)


class Upload(BaseModel):
    account_id: str
    upload_id: str
    filename: str
    content_type: str
    size: int
    created_by: str
    batch: datetime | None = None  # the asset's, when the client chose one
    state: UploadState = UploadState.PENDING
    asset_id: str | None = None
    duplicate: bool = False
    reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def ingest_deadline(self) -> datetime:
        """After this, a pending upload is shown as expired: its ticket ran out and nothing came."""
        return self.created_at + timedelta(seconds=PRESIGNED_URL_TTL_SECONDS) + INGEST_GRACE


AssetId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
