"""Assets, their renditions and uploads as stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal
from unicodedata import category as unicodedata_category

from pydantic import AfterValidator, ConfigDict, Field, field_validator

from carton.shared.config import PRESIGNED_URL_TTL_SECONDS
from carton.shared.fields import MAX_NAME_LENGTH, MAX_TEXT, Line, Model, Text, utcnow

Language = Literal["en", "de", "fr", "es"]


class Translation(Model):
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


class AssetMetadata(Model):
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


class Derived(Model):
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


MiB = 1024 * 1024
# One POST form carries at most what one S3 PUT takes.
MAX_FORM_BYTES = 5 * 1024 * MiB
# Multipart uploads: what ingest can read through (checksums) within Lambda's 15 minutes.
MAX_UPLOAD_BYTES = 50 * 1024 * MiB
MIN_PART_SIZE = 8 * MiB  # S3 takes 5 MiB and up (the last part excepted)
MAX_PARTS = 10_000  # S3's limit


def part_size_for(size: int) -> int:
    """Whole MiB, at least MIN_PART_SIZE, and few enough parts for S3."""
    per_part = -(-size // MAX_PARTS)
    return max(MIN_PART_SIZE, -(-per_part // MiB) * MiB)


# How long after its ticket expired a pending upload may still be ingested (S3 events
# and the ingest queue can lag); after that it is shown as expired.
INGEST_GRACE = timedelta(minutes=15)


class Upload(Model):
    account_id: str
    upload_id: str
    filename: str
    content_type: str
    size: int
    created_by: str
    batch: datetime | None = None  # the asset's, when the client chose one
    # A multipart upload (files over the multipart threshold): S3's id and the part size.
    multipart_id: str | None = None
    part_size: int | None = None
    state: UploadState = UploadState.PENDING
    asset_id: str | None = None
    duplicate: bool = False
    reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def ingest_deadline(self) -> datetime:
        """After this, a pending upload is shown as expired: its ticket ran out and nothing
        came (a multipart upload has a day: the assets bucket aborts unfinished ones then)."""
        ticket = timedelta(days=1) if self.multipart_id else timedelta(seconds=PRESIGNED_URL_TTL_SECONDS)
        return self.created_at + ticket + INGEST_GRACE

    @property
    def part_count(self) -> int | None:
        return None if self.part_size is None else -(-self.size // self.part_size)


AssetId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
