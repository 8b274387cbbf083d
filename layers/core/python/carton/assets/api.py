"""Assets and uploads on the wire: what clients send, and what they are shown (each Out
model built by its `of`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AliasChoices, ConfigDict, Field

from carton.assets.models import (
    MAX_PARTS,
    MAX_UPLOAD_BYTES,
    Asset,
    AssetMetadata,
    Batch,
    Filename,
    Translation,
    Upload,
    UploadState,
)
from carton.shared.fields import MAX_TEXT, Model, utcnow
from carton.shared.media import media_group
from carton.web.routes import url_for
from carton.web.shapes import ListOf


class ReplaceAssetRequest(AssetMetadata):
    """PUT replaces everything: each field must be sent (a left-out translation is removed)."""

    translations: list[Translation] = Field(max_length=4)
    note: str | None = Field(max_length=MAX_TEXT)
    mature: bool


class ImportAssetRequest(AssetMetadata):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    art: str = Field(min_length=1, description="an https URL to fetch, or the file's bytes in base64")
    content_type: str | None = Field(
        default=None,
        validation_alias=AliasChoices("content_type", "contentType"),
        max_length=100,
        description="required with base64 art",
    )
    batch: Batch | None = Field(default=None, description="ISO 8601 UTC with milliseconds; default now")
    update: bool = Field(
        default=False, strict=True, description="on a duplicate, replace filename, note and translations first"
    )


class UploadRequest(Model):
    model_config = ConfigDict(extra="forbid")

    filename: Filename
    content_type: str = Field(min_length=3, max_length=100)
    size: int = Field(
        ge=1,
        le=MAX_UPLOAD_BYTES,
        description="bytes; at most 50 GiB. Over the multipart threshold (100 MiB unless the deployment says "
        "otherwise) the ticket is for a multipart upload",
    )
    batch: Batch | None = Field(
        default=None, description="the asset's batch (ISO 8601 UTC with milliseconds); default: when it is ingested"
    )


class AssetOut(Model):
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

    @classmethod
    def of(cls, asset: Asset, base_url: str) -> AssetOut:
        url = url_for("get_asset", base_url, key=asset.asset_id)
        return cls(
            key=asset.asset_id,
            url=url,
            filename=asset.filename,
            content_type=asset.content_type,
            media_type=media_group(asset.content_type),
            size=asset.size,
            sha256=asset.sha256,
            crc32=f"{asset.crc32:08x}",
            width=asset.width,
            height=asset.height,
            batch=asset.batch,
            translations=asset.translations,
            note=asset.note,
            mature=asset.mature,
            created_at=asset.created_at,
            updated_at=asset.updated_at,
            downloads_url=url_for("asset_downloads", base_url, key=asset.asset_id),
        )


class UploadOut(Model):
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
    upload_method: Literal["POST", "MULTIPART"] | None = None
    upload_fields: dict[str, str] | None = Field(
        default=None, description="Form fields S3 checks: key, content type, the exact size, the signature"
    )
    expires_at: datetime | None = Field(default=None, description="the form is refused after this time")
    part_size: int | None = Field(
        default=None, description="MULTIPART: every part has this many bytes, the last one the rest"
    )
    part_count: int | None = None
    parts_url: str | None = Field(
        default=None, description="MULTIPART: POST {numbers: [...]} here for presigned PUTs of those parts"
    )
    complete_url: str | None = Field(
        default=None, description="MULTIPART: POST {parts: [{number, etag}]} here once every part is sent"
    )

    @classmethod
    def of(cls, upload: Upload, base_url: str) -> UploadOut:
        state, reason = upload.state, upload.reason
        if state is UploadState.PENDING and utcnow() > upload.ingest_deadline:
            state = UploadState.EXPIRED
            reason = "no file was ingested: none arrived before the ticket expired, or it was removed first"
        ids = {"upload_id": upload.upload_id}
        pending_multipart = upload.multipart_id is not None and state is UploadState.PENDING
        return cls(
            id=upload.upload_id,
            url=url_for("get_upload", base_url, upload_id=upload.upload_id),
            state=state,
            filename=upload.filename,
            content_type=upload.content_type,
            size=upload.size,
            asset=upload.asset_id,
            asset_url=url_for("get_asset", base_url, key=upload.asset_id) if upload.asset_id else None,
            duplicate=upload.duplicate,
            reason=reason,
            upload_method="MULTIPART" if upload.multipart_id else None,
            part_size=upload.part_size,
            part_count=upload.part_count,
            parts_url=url_for("sign_upload_parts", base_url, **ids) if pending_multipart else None,
            complete_url=url_for("complete_upload", base_url, **ids) if pending_multipart else None,
        )


PartNumber = Annotated[int, Field(ge=1, le=MAX_PARTS)]


class SignPartsRequest(Model):
    model_config = ConfigDict(extra="forbid")

    numbers: list[PartNumber] = Field(min_length=1, max_length=1000, description="1 to 1,000 part numbers")


class SignedPart(Model):
    number: int
    url: str = Field(description="PUT the part's bytes here; keep the ETag header of the answer")
    size: int


class SignedParts(Model):
    parts: list[SignedPart]
    expires_at: datetime = Field(description="a PUT must begin before this time; ask again for fresh ones")


class CompletedPart(Model):
    model_config = ConfigDict(extra="forbid")

    number: PartNumber
    etag: str = Field(min_length=1, max_length=200)


class CompleteUploadRequest(Model):
    model_config = ConfigDict(extra="forbid")

    parts: list[CompletedPart] = Field(min_length=1, max_length=MAX_PARTS, description="every part, once each")


AssetList = ListOf[AssetOut]
