"""Downloads on the wire: what clients send, and what they are shown (each Out model
built by its `of`)."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime
from typing import Any

from pydantic import AliasChoices, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from carton.assets.models import AssetId, Batch
from carton.downloads.models import (
    ArchiveFormatName,
    Download,
    DownloadError,
    DownloadOptions,
    DownloadState,
    Layout,
    NotificationStatus,
    Progress,
    Target,
    TargetState,
)
from carton.packaging.formats import FORMATS
from carton.shared.fields import MAX_NAME_LENGTH, Line, Model, utcnow
from carton.shared.media import MediaGroup
from carton.web.routes import url_for
from carton.web.shapes import ListOf

MAX_ASSETS_PER_DOWNLOAD = 10_000


class Selection(Model):
    """Assets chosen by what they are, resolved when the download is created: every filter
    given must match (at least one)."""

    model_config = ConfigDict(extra="forbid")

    tag: Line | None = Field(default=None, min_length=1, max_length=64, description="tagged so in any translation")
    batch: Batch | None = Field(default=None, description="imported in this batch (ISO 8601 UTC, exact)")
    media_type: MediaGroup | None = None
    filename_prefix: Line | None = Field(
        default=None, min_length=1, max_length=255, description="file names starting so (case ignored)"
    )

    @model_validator(mode="after")
    def _some_filter(self) -> Selection:
        if not self.model_fields_set - {name for name, value in self if value is None}:
            raise ValueError("give at least one of tag, batch, media_type, filename_prefix")
        return self


class CreateDownloadRequest(DownloadOptions):
    # Before asset_ids: validating those, the selection is known.
    selection: Selection | None = Field(
        default=None,
        description=f"assets chosen by query, besides asset_ids; at most {MAX_ASSETS_PER_DOWNLOAD:,} in all",
    )
    asset_ids: list[AssetId] = Field(
        validation_alias=AliasChoices("asset_ids", "presentation_ids"),
        max_length=MAX_ASSETS_PER_DOWNLOAD,
        description=f"1 to {MAX_ASSETS_PER_DOWNLOAD:,} unique asset ids of the caller's account (or none, with a "
        "selection)",
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

    @model_validator(mode="before")
    @classmethod
    def _ids_optional_with_a_selection(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("selection") and not {"asset_ids", "presentation_ids"} & set(data):
            return {**data, "asset_ids": []}
        return data

    @field_validator("asset_ids")
    @classmethod
    def _unique(cls, ids: list[str], info: ValidationInfo) -> list[str]:
        if not ids and info.data.get("selection") is None:
            raise ValueError(f"1 to {MAX_ASSETS_PER_DOWNLOAD:,} asset ids, or a selection")
        duplicates = sorted(asset_id for asset_id, count in Counter(ids).items() if count > 1)
        if duplicates:
            raise ValueError(f"asset ids must be unique; repeated: {', '.join(duplicates[:10])}")
        return ids

    @field_validator("zip_filename")
    @classmethod
    def _archive_suffix(cls, value: str | None, info: ValidationInfo) -> str | None:
        chosen = info.data.get("format")  # validated before (an options field); absent if it was refused
        if value is None or chosen not in FORMATS:
            return value
        extension = FORMATS[chosen].extension
        if not value.lower().endswith(extension):
            raise ValueError(f"zip_filename must end in {extension} (the archive is a {chosen})")
        return value

    @model_validator(mode="after")
    def _individual_are_requested(self) -> CreateDownloadRequest:
        strangers = sorted(set(self.renditions.individual) - set(self.asset_ids))
        if strangers:
            raise ValueError(f"renditions.individual names assets not in asset_ids: {', '.join(strangers[:10])}")
        return self

    def options(self) -> DownloadOptions:
        return DownloadOptions.model_validate(self.model_dump(include=set(DownloadOptions.model_fields), by_alias=True))


class Link(Model):
    id: str
    email: str
    url: str


class NotifyOut(Model):
    emails: list[str]
    webhook_url: str | None


class ProgressOut(Progress):
    eta_seconds: int | None = Field(
        default=None, description="seconds until packed, from the rate so far; null until there is a rate"
    )

    @classmethod
    def of(cls, download: Download, now: datetime) -> ProgressOut:
        progress = download.progress
        eta = None
        if download.state is DownloadState.COMPLETE:
            eta = 0
        elif download.state is DownloadState.PACKAGING and progress.bytes_done > 0:
            elapsed = max((now - download.created_at).total_seconds(), 1.0)
            eta = math.ceil((progress.bytes_total - progress.bytes_done) * elapsed / progress.bytes_done)
        return cls(**progress.model_dump(), eta_seconds=eta)


# How soon a client polling a download should ask again, in seconds.
POLL_MIN, POLL_MAX = 1, 30


class DownloadOut(Model):
    id: str
    url: str
    name: str
    zip_filename: str
    file_name: str
    download_type: str
    state: DownloadState
    complete: bool
    progress: ProgressOut
    target_count: int
    has_conversions: bool
    assets: list[str]
    layout: Layout
    culture: str | None
    name_template: str
    renditions: dict[str, Any]
    include_manifest: bool
    on_missing: str
    format: ArchiveFormatName
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

    @classmethod
    def of(cls, download: Download, base_url: str, now: datetime | None = None) -> DownloadOut:
        ids = {"download_id": download.download_id}
        url = url_for("get_download", base_url, **ids)
        user_url = url_for("get_user", base_url, user_id=download.created_by)
        finished = download.state is DownloadState.COMPLETE
        return cls(
            id=download.download_id,
            url=url,
            name=download.name,
            zip_filename=download.zip_filename,
            file_name=download.zip_filename,
            download_type=download.download_type,
            state=download.state,
            complete=finished,
            progress=ProgressOut.of(download, now or utcnow()),
            target_count=download.target_count,
            has_conversions=download.has_conversions,
            assets=download.asset_ids,
            layout=download.layout,
            culture=download.options.culture,
            name_template=download.options.name_template,
            renditions=download.options.renditions.model_dump(mode="json", by_alias=True, exclude_defaults=True),
            include_manifest=download.options.include_manifest,
            on_missing=download.options.on_missing,
            format=download.options.format,
            notify=NotifyOut(emails=download.options.notify.emails, webhook_url=download.options.notify.webhook_url),
            size=download.size,
            is_file_exists=finished,
            created_at=download.created_at,
            updated_at=download.updated_at,
            completed_at=download.completed_at,
            expires_at=download.expires_at,
            error=download.error,
            notifications=download.notifications,
            created_by=Link(id=download.created_by, email=download.created_by_email, url=user_url),
            user_email=download.created_by_email,
            user_url=user_url,
            download_url=url_for("download_file", base_url, ending="/download", **ids) if finished else None,
            file_url=url_for("download_file", base_url, ending="/file", **ids) if finished else None,
        )

    def poll_after(self) -> int | None:
        """Seconds a client polling this download should wait (Retry-After), while it is not done."""
        if self.state not in (DownloadState.PENDING, DownloadState.PACKAGING):
            return None
        eta = self.progress.eta_seconds
        return POLL_MIN + 1 if eta is None else min(max(eta // 4, POLL_MIN), POLL_MAX)


class TargetOut(Model):
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

    @classmethod
    def of(cls, target: Target, base_url: str) -> TargetOut:
        return cls(
            asset_id=target.asset_id,
            url=url_for("get_target", base_url, download_id=target.download_id, asset_id=target.asset_id),
            position=target.position,
            rendition=target.rendition,
            path=target.path,
            size=target.size,
            crc32=None if target.crc32 is None else f"{target.crc32:08x}",
            sha256=target.sha256,
            state=target.state,
            reason=target.reason,
        )


DownloadList = ListOf[DownloadOut]


TargetList = ListOf[TargetOut]
