"""Typed records and API shapes (pydantic v2)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

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


class Asset(BaseModel):
    account_id: str
    asset_id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    crc32: int
    etag: str
    s3_key: str
    created_at: datetime = Field(default_factory=utcnow)
    deleted: bool = False


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


Layout = Literal["flat", "folders"]


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


class CreateDownloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    asset_ids: list[AssetId] = Field(
        validation_alias=AliasChoices("asset_ids", "presentation_ids"),
        min_length=1,
        max_length=MAX_ASSETS_PER_DOWNLOAD,
        description=f"1 to {MAX_ASSETS_PER_DOWNLOAD:,} unique asset ids of the caller's account",
    )
    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    zip_filename: str | None = Field(default=None, min_length=5, max_length=MAX_NAME_LENGTH)
    layout: Layout = "flat"
    download_type: str = Field(default="archive", min_length=1, max_length=64)

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


# ---- API output -----------------------------------------------------------------------


class Link(BaseModel):
    id: str
    email: str
    url: str


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
    assets: list[str]
    layout: Layout
    size: int | None
    is_file_exists: bool
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    expires_at: datetime | None
    error: DownloadError | None
    created_by: Link
    user_email: str
    user_url: str
    download_url: str | None
    file_url: str | None


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


EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$"
DownloadType = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class CreateUserRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    role: Role = Role.MEMBER


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
    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
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
