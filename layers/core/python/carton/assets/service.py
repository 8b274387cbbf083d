"""Assets: importing (URL, base64, presigned upload), de-duplicating, describing, deleting.

Every asset's size, SHA-256 and CRC-32 are computed from its exact bytes, once; the
CRC-32 is what the archive's ZIP headers will say, so it must be right (tests check it
against zlib). A declared content type is only believed when the bytes agree.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from carton.models import (
    Asset,
    AssetMetadata,
    AssetOut,
    ImportAssetRequest,
    Principal,
    Upload,
    UploadOut,
    UploadRequest,
    UploadState,
    utcnow,
)
from carton.packaging.archive import safe_entry_name
from carton.shared import aws, presign
from carton.shared.config import PRESIGNED_URL_TTL_SECONDS, settings
from carton.shared.errors import MISSING, Conflict, Gone, NotFound, PayloadTooLarge, ValidationFailed, error_code
from carton.shared.media import (
    ALLOWED_TYPES,
    IMAGE_TYPES,
    SNIFF_BYTES,
    DimensionReader,
    ImageTooLarge,
    agrees,
    media_group,
    normalise,
    sniff,
    verify_image,
)
from carton.shared.observability import measure
from carton.shared.safehttp import DeliveryFailed, Policy, TooLarge, UnsafeDestination, get
from carton.storage.listing import ListPlan, Phase, paged
from carton.storage.schema import ASSETS_PREFIX, BY_ACCOUNT_INDEX, BY_STATE_INDEX, BY_TYPE_INDEX, UPLOADS_PREFIX
from carton.storage.store import Store, assets_partition, batch_text, record_of
from carton.web.paging import fingerprint
from carton.web.routes import UPLOAD_ROUTE, url_for

READ_CHUNK = 1024 * 1024
# A Lambda behind API Gateway takes at most 6 MB of request, and base64 grows by 4/3:
# 4 MiB of file is 5.33 MiB of base64, which leaves room for the rest of the request.
MAX_BASE64_BYTES = 4 * 1024 * 1024
MAX_URL_BYTES = 100 * 1024 * 1024
_ALLOWED = ", ".join(ALLOWED_TYPES)


@dataclass(frozen=True)
class Checksums:
    size: int
    sha256: str
    crc32: int


def checksums(chunks: Iterable[bytes]) -> Checksums:
    digest, crc, size = hashlib.sha256(), 0, 0
    for chunk in chunks:
        digest.update(chunk)
        crc = zlib.crc32(chunk, crc)
        size += len(chunk)
    return Checksums(size=size, sha256=digest.hexdigest(), crc32=crc)


def new_key() -> str:
    return "A" + secrets.token_hex(8).upper()


def object_key(account_id: str, asset_id: str, filename: str) -> str:
    return f"{ASSETS_PREFIX}{account_id}/{asset_id}/{safe_entry_name(filename).replace('/', '_')}"


def asset_url(base: str, asset_id: str) -> str:
    return url_for("get_asset", base, key=asset_id)


def representation(asset: Asset, base: str) -> AssetOut:
    url = asset_url(base, asset.asset_id)
    return AssetOut(
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
        downloads_url=f"{url}/downloads",
    )


def live_asset(principal: Principal, asset_id: str, store: Store) -> Asset:
    """The asset, or 410 GONE for a key that was deleted or never existed (as OrbitKit answers)."""
    asset = store.get_asset(principal.account_id, asset_id)
    if asset is None or asset.deleted:
        raise Gone("No such asset", {"key": [f"{asset_id!r} does not exist or was deleted"]})
    return asset


# ---- checking bytes ---------------------------------------------------------------------


def _checked_type(declared: str | None, head: bytes, field: str) -> str:
    sniffed = sniff(head[:SNIFF_BYTES])
    if sniffed is None or sniffed not in ALLOWED_TYPES:
        raise ValidationFailed("Unsupported file type", {field: [f"the bytes are none of: {_ALLOWED}"]})
    if declared is not None and not agrees(declared, sniffed):
        raise ValidationFailed(
            "Content type does not match the bytes",
            {"content_type": [f"declared {normalise(declared)}, the bytes are {sniffed}"]},
        )
    return normalise(declared) if declared is not None else sniffed


def _dimensions(content_type: str, data: bytes) -> tuple[int | None, int | None]:
    if content_type not in IMAGE_TYPES:
        return None, None
    try:
        width, height = verify_image(data)
    except ImageTooLarge as error:
        raise ValidationFailed("Image too large", {"art": [str(error)]}) from error
    except ValueError as error:
        raise ValidationFailed("Corrupt image", {"art": [str(error)]}) from error
    return width, height


def _art_bytes(request: ImportAssetRequest) -> tuple[bytes, str | None]:
    """The file's bytes and the content type its source declared."""
    art = request.art.strip()
    if art.lower().startswith(("https://", "http://")):
        try:
            fetched = get(art, MAX_URL_BYTES, Policy(allow_loopback=settings().webhook_allow_loopback))
        except UnsafeDestination as error:
            raise ValidationFailed("Refused art URL", {"art": [str(error)]}) from error
        except TooLarge as error:
            raise PayloadTooLarge(
                "Art too large", {"art": [f"{error}; at most {MAX_URL_BYTES // 1024**2} MB by URL"]}
            ) from error
        except DeliveryFailed as error:
            raise ValidationFailed("Could not fetch art", {"art": [str(error)]}) from error
        return fetched.body, request.content_type or fetched.content_type
    if request.content_type is None:
        raise ValidationFailed("content_type is required with base64 art", {"content_type": ["required"]})
    too_large = PayloadTooLarge(
        "Art too large for base64",
        {
            "art": [
                f"at most {MAX_BASE64_BYTES // 1024**2} MB of file as base64; upload larger files with {UPLOAD_ROUTE}"
            ]
        },
    )
    if len(art) > (MAX_BASE64_BYTES + 2) // 3 * 4:  # not even worth decoding
        raise too_large
    try:
        data = base64.b64decode(art, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValidationFailed("art is neither an https URL nor base64", {"art": ["invalid base64"]}) from error
    if len(data) > MAX_BASE64_BYTES:
        raise too_large
    return data, request.content_type


# ---- import -----------------------------------------------------------------------------


def _apply_metadata(asset: Asset, metadata: AssetMetadata) -> Asset:
    fields = metadata.model_dump(include={"filename", "translations", "note", "mature"})
    return asset.model_copy(update={**AssetMetadata.model_validate(fields).__dict__, "updated_at": utcnow()})


def import_asset(principal: Principal, request: ImportAssetRequest, store: Store) -> tuple[Asset, bool]:
    """(asset, created). The same bytes again answer the original (updated if asked)."""
    data, declared = _art_bytes(request)
    if not data:
        raise ValidationFailed("Empty file", {"art": ["the file has no bytes"]})
    content_type = _checked_type(declared, data, "art")
    dimensions = _dimensions(content_type, data)
    sums = checksums([data])
    existing = store.asset_with_sha256(principal.account_id, sums.sha256)
    if existing is not None:
        return _duplicate(existing, request, store), False
    asset = _put_new(principal.account_id, new_key(), request, content_type, data, sums, dimensions, request.batch)
    try:
        store.create_asset(asset)
    except Conflict:  # a concurrent import of the same bytes won
        aws.s3().delete_object(Bucket=settings().assets_bucket, Key=asset.s3_key)
        winner = store.asset_with_sha256(principal.account_id, sums.sha256)
        if winner is None:
            raise
        return _duplicate(winner, request, store), False
    measure("AssetsIngested")
    return asset, True


def _duplicate(existing: Asset, request: ImportAssetRequest, store: Store) -> Asset:
    if not request.update:
        return existing
    updated = _apply_metadata(existing, request)
    store.put_asset(updated)
    return updated


def replace_metadata(principal: Principal, asset_id: str, metadata: AssetMetadata, store: Store) -> Asset:
    """PUT: everything is replaced; a translation left out is removed."""
    updated = _apply_metadata(live_asset(principal, asset_id, store), metadata)
    store.put_asset(updated)
    return updated


def delete_asset(principal: Principal, asset_id: str, store: Store) -> None:
    asset = live_asset(principal, asset_id, store)
    store.delete_asset(asset)
    aws.s3().delete_object(Bucket=settings().assets_bucket, Key=asset.s3_key)


def store_bytes(store: Store, account_id: str, asset_id: str, filename: str, content_type: str, data: bytes) -> Asset:
    """An asset from bytes at hand, under a chosen key (the local stack's demo assets)."""
    content_type = normalise(content_type)
    dimensions = _dimensions(content_type, data)
    metadata = AssetMetadata(filename=filename)
    asset = _put_new(account_id, asset_id, metadata, content_type, data, checksums([data]), dimensions, None)
    store.create_asset(asset)
    return asset


def _put_new(
    account_id: str,
    asset_id: str,
    metadata: AssetMetadata,
    content_type: str,
    data: bytes,
    sums: Checksums,
    dimensions: tuple[int | None, int | None],
    batch: datetime | None,
) -> Asset:
    """Store new bytes under their asset key; the record is the caller's to write."""
    key = object_key(account_id, asset_id, metadata.filename)
    stored = aws.s3().put_object(
        Bucket=settings().assets_bucket, Key=key, Body=data, ContentType=content_type, ChecksumAlgorithm="CRC32"
    )
    return Asset(
        account_id=account_id,
        asset_id=asset_id,
        filename=metadata.filename,
        translations=metadata.translations,
        note=metadata.note,
        mature=metadata.mature,
        content_type=content_type,
        size=sums.size,
        sha256=sums.sha256,
        crc32=sums.crc32,
        etag=stored["ETag"],
        s3_key=key,
        width=dimensions[0],
        height=dimensions[1],
        batch=batch or datetime.now(UTC),
    )


# ---- listing ----------------------------------------------------------------------------


def list_assets(
    principal: Principal, parameters: Mapping[str, str], store: Store, cursor_key: bytes, url: str
) -> tuple[dict[str, Any], list[Asset]]:
    """Newest first; filters batch= (exact), media_type=, tag= (in any translation)."""
    errors: dict[str, list[str]] = {}
    account = principal.account_id
    media, batch_text_value, tag = parameters.get("media_type"), None, parameters.get("tag")
    if media is not None and media not in ("image", "video", "document", "other"):
        errors["media_type"] = ["one of image, video, document, other"]
    if parameters.get("batch") is not None:
        try:
            batch_text_value = batch_text(datetime.fromisoformat(parameters["batch"].replace("Z", "+00:00")))
        except ValueError:
            errors["batch"] = ["an ISO 8601 time, e.g. 2026-11-23T09:42:16.123Z"]
    if errors:
        raise ValidationFailed("Invalid filters", errors)
    # One filter picks the index; what is left is checked on the items read.
    if batch_text_value is not None:
        stream = (BY_STATE_INDEX, assets_partition(BY_STATE_INDEX, account, batch_text_value))
    elif media is not None:
        stream, media = (BY_TYPE_INDEX, assets_partition(BY_TYPE_INDEX, account, media)), None
    else:
        stream = (BY_ACCOUNT_INDEX, assets_partition(BY_ACCOUNT_INDEX, account))

    def keep(item: dict[str, Any]) -> bool:
        if media is not None and media_group(str(item["content_type"])) != media:
            return False
        return tag is None or any(tag in t.get("tags", []) for t in item.get("translations", []))

    plan = ListPlan(
        phases=(Phase((stream,), keep if (tag is not None or media is not None) else None),), ascending=False
    )
    filters = {k: v for k, v in parameters.items() if k in ("batch", "media_type", "tag")}
    body, page = paged(store, plan, parameters, cursor_key, url, fingerprint(account=account, list="assets", **filters))
    return body, [record_of(Asset, item) for item in page.items]


# ---- presigned uploads --------------------------------------------------------------------


def upload_key(upload: Upload) -> str:
    return (
        f"{UPLOADS_PREFIX}{upload.account_id}/{upload.upload_id}/{safe_entry_name(upload.filename).replace('/', '_')}"
    )


# How long after its ticket expired a pending upload may still be ingested (S3 events
# and the ingest queue can lag); after that it is shown as expired.
INGEST_GRACE = timedelta(minutes=15)


def upload_representation(upload: Upload, base: str) -> UploadOut:
    state, reason = upload.state, upload.reason
    deadline = upload.created_at + timedelta(seconds=PRESIGNED_URL_TTL_SECONDS) + INGEST_GRACE
    if state is UploadState.PENDING and utcnow() > deadline:
        state = UploadState.EXPIRED
        reason = "no file was ingested: none arrived before the ticket expired, or it was removed first"
    return UploadOut(
        id=upload.upload_id,
        url=url_for("get_upload", base, upload_id=upload.upload_id),
        state=state,
        filename=upload.filename,
        content_type=upload.content_type,
        size=upload.size,
        asset=upload.asset_id,
        asset_url=asset_url(base, upload.asset_id) if upload.asset_id else None,
        duplicate=upload.duplicate,
        reason=reason,
    )


def create_upload(principal: Principal, request: UploadRequest, store: Store, base: str) -> UploadOut:
    content_type = normalise(request.content_type)
    if content_type not in ALLOWED_TYPES:
        raise ValidationFailed("Unsupported content type", {"content_type": [f"one of: {_ALLOWED}"]})
    upload = Upload(
        account_id=principal.account_id,
        upload_id=secrets.token_hex(12),
        filename=request.filename,
        content_type=content_type,
        size=request.size,
        created_by=principal.user_id,
    )
    store.put_upload(upload)
    form = presign.upload_form(settings().assets_bucket, upload_key(upload), content_type, request.size)
    return upload_representation(upload, base).model_copy(
        update={
            "upload_url": form.url,
            "upload_method": "POST",
            "upload_fields": form.fields,
            "expires_at": form.expires_at,
        }
    )


def _rejected(kind: str) -> None:
    measure("UploadsRejected")
    measure("UploadsRejected", reason=kind)


class Rejected(Exception):
    """The uploaded object cannot become an asset; the reason is recorded on the upload, and
    its kind (a metric's dimension: a few values, never the sentence) counted."""

    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.kind = kind


def _read_checked(chunks: Iterator[bytes], upload: Upload) -> tuple[Checksums, tuple[int, int] | None]:
    digest, crc, size, head = hashlib.sha256(), 0, 0, b""
    dimensions = DimensionReader() if upload.content_type in IMAGE_TYPES else None
    checked = False
    for chunk in chunks:
        digest.update(chunk)
        crc = zlib.crc32(chunk, crc)
        size += len(chunk)
        if not checked:
            head += chunk[: SNIFF_BYTES - len(head)]
            if len(head) >= SNIFF_BYTES or size >= upload.size:
                sniffed = sniff(head)
                if sniffed is None or not agrees(upload.content_type, sniffed):
                    raise Rejected(
                        f"declared {upload.content_type}, the bytes are {sniffed or 'of no accepted type'}", "type"
                    )
                checked = True
        if dimensions is not None:
            try:
                dimensions.feed(chunk)
            except ImageTooLarge as error:
                raise Rejected(str(error), "image") from error
    if size == 0:
        raise Rejected("the file is empty", "empty")
    if dimensions is not None and dimensions.size is None:
        raise Rejected("not a readable image", "image")
    return Checksums(size, digest.hexdigest(), crc), dimensions.size if dimensions else None


def ingest_upload(key: str, store: Store) -> Upload | None:
    """S3 told us `uploads/{account}/{upload_id}/{name}` arrived: check it, de-duplicate it,
    move it under its asset key. A repeated delivery finds the upload settled and does nothing."""
    parts = key.removeprefix(UPLOADS_PREFIX).split("/", 2)
    if not key.startswith(UPLOADS_PREFIX) or len(parts) != 3 or not all(parts):
        return None
    account_id, upload_id, _ = parts
    s3, bucket = aws.s3(), settings().assets_bucket
    try:
        upload = store.get_upload(account_id, upload_id)
    except NotFound:
        s3.delete_object(Bucket=bucket, Key=key)  # not announced through the API: not ours to keep
        return None
    if key != upload_key(upload):
        return upload
    if upload.state is not UploadState.PENDING:
        s3.delete_object(Bucket=bucket, Key=key)  # settled already; a delivery that stopped short left it
        return upload
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error_code(error) in MISSING:
            # Settled uploads lose their object only after the record says so (below): a
            # pending upload without its object lost it before it could be ingested.
            vanished = upload.model_copy(
                update={
                    "state": UploadState.REJECTED,
                    "reason": "the file was removed before it could be ingested; upload it again",
                    "updated_at": utcnow(),
                }
            )
            _rejected("vanished")
            return store.settle_upload(vanished)
        raise
    try:
        if response["ContentLength"] != upload.size:
            raise Rejected(f"{response['ContentLength']} bytes arrived, {upload.size} were announced", "size")
        sums, size = _read_checked(response["Body"].iter_chunks(READ_CHUNK), upload)
        settled = _settle(upload, sums, size, response["ETag"], key, store)
    except Rejected as rejected:
        _rejected(rejected.kind)
        settled = upload.model_copy(
            update={"state": UploadState.REJECTED, "reason": str(rejected), "updated_at": utcnow()}
        )
    else:
        if not settled.duplicate:
            measure("AssetsIngested")
    settled = store.settle_upload(settled)  # the record first, then the object (see above)
    s3.delete_object(Bucket=bucket, Key=key)
    return settled


def _settle(upload: Upload, sums: Checksums, size: tuple[int, int] | None, etag: str, key: str, store: Store) -> Upload:
    ingested = {"state": UploadState.INGESTED, "updated_at": utcnow()}
    existing = store.asset_with_sha256(upload.account_id, sums.sha256)
    if existing is not None:
        duplicate = existing.upload_id != upload.upload_id  # else: a repeated delivery of this upload
        return upload.model_copy(update={**ingested, "asset_id": existing.asset_id, "duplicate": duplicate})
    asset_id = new_key()
    target = object_key(upload.account_id, asset_id, upload.filename)
    copied = aws.s3().copy_object(
        Bucket=settings().assets_bucket,
        Key=target,
        CopySource={"Bucket": settings().assets_bucket, "Key": key},
        CopySourceIfMatch=etag,
        ContentType=upload.content_type,
        MetadataDirective="REPLACE",
        ChecksumAlgorithm="CRC32",
    )
    asset = Asset(
        account_id=upload.account_id,
        asset_id=asset_id,
        filename=upload.filename,
        content_type=upload.content_type,
        size=sums.size,
        sha256=sums.sha256,
        crc32=sums.crc32,
        etag=copied["CopyObjectResult"]["ETag"],
        s3_key=target,
        width=size[0] if size else None,
        height=size[1] if size else None,
        upload_id=upload.upload_id,
    )
    try:
        store.create_asset(asset)
    except Conflict:
        aws.s3().delete_object(Bucket=settings().assets_bucket, Key=target)
        winner = store.asset_with_sha256(upload.account_id, sums.sha256)
        # Another delivery of this very upload got there first: the same result, not a duplicate.
        duplicate = winner is None or winner.upload_id != upload.upload_id
        return upload.model_copy(
            update={**ingested, "asset_id": winner.asset_id if winner else None, "duplicate": duplicate}
        )
    return upload.model_copy(update={**ingested, "asset_id": asset_id})
