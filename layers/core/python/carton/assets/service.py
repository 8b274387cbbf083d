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
from datetime import UTC, datetime

from carton.accounts.models import Principal
from carton.assets.api import ImportAssetRequest
from carton.assets.models import Asset, AssetMetadata
from carton.shared import aws
from carton.shared.checksums import Checksums, checksums
from carton.shared.config import settings
from carton.shared.errors import Conflict, Gone, PayloadTooLarge, ValidationFailed
from carton.shared.fields import utcnow
from carton.shared.images import ImageTooLarge, verify_image
from carton.shared.media import ALLOWED_TYPES, IMAGE_TYPES, SNIFF_BYTES, agrees, normalise, sniff
from carton.shared.observability import measure
from carton.shared.safehttp import DeliveryFailed, TooLarge, UnsafeDestination, get
from carton.storage.objects import asset_object_key
from carton.store import Store
from carton.web.routes import UPLOAD_ROUTE

READ_CHUNK = 1024 * 1024
# A Lambda behind API Gateway takes at most 6 MB of request, and base64 grows by 4/3:
# 4 MiB of file is 5.33 MiB of base64, which leaves room for the rest of the request.
MAX_BASE64_BYTES = 4 * 1024 * 1024
MAX_URL_BYTES = 100 * 1024 * 1024
ACCEPTED_TYPES = ", ".join(ALLOWED_TYPES)  # for error messages


def new_key() -> str:
    return "A" + secrets.token_hex(8).upper()


def key_for_upload(upload_id: str) -> str:
    """An asset key that only this upload can have (as unguessable as the upload's id)."""
    return "A" + hashlib.sha256(f"asset:{upload_id}".encode()).hexdigest()[:16].upper()


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
        raise ValidationFailed("Unsupported file type", {field: [f"the bytes are none of: {ACCEPTED_TYPES}"]})
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
            fetched = get(art, MAX_URL_BYTES, settings().fetch_policy)
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
    written, created = create_or_winner(asset, store)
    if written is None:
        raise Conflict("The same bytes were imported and removed meanwhile; send the file again", {"art": ["retry"]})
    if not created:
        return _duplicate(written, request, store), False
    measure("AssetsIngested")
    return asset, True


def _duplicate(existing: Asset, request: ImportAssetRequest, store: Store) -> Asset:
    if not request.update:
        return existing
    updated = _apply_metadata(existing, request)
    store.put_asset(updated, previous=existing)
    return updated


def replace_metadata(principal: Principal, asset_id: str, metadata: AssetMetadata, store: Store) -> Asset:
    """PUT: everything is replaced; a translation left out is removed."""
    current = live_asset(principal, asset_id, store)
    updated = _apply_metadata(current, metadata)
    store.put_asset(updated, previous=current)
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
    key = asset_object_key(account_id, asset_id, metadata.filename)
    stored = aws.s3().put_object(
        Bucket=settings().assets_bucket, Key=key, Body=data, ContentType=content_type, ChecksumAlgorithm="CRC32"
    )
    return new_asset(account_id, asset_id, metadata, content_type, sums, dimensions, (key, stored["ETag"]), batch=batch)


def new_asset(
    account_id: str,
    asset_id: str,
    metadata: AssetMetadata,
    content_type: str,
    sums: Checksums,
    dimensions: tuple[int | None, int | None] | None,
    stored: tuple[str, str],
    *,
    batch: datetime | None = None,
    upload_id: str | None = None,
) -> Asset:
    """The record of new bytes stored at `stored` (key, ETag): imported, uploaded or a demo's."""
    key, etag = stored
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
        etag=etag,
        s3_key=key,
        width=dimensions[0] if dimensions else None,
        height=dimensions[1] if dimensions else None,
        batch=batch or datetime.now(UTC),
        upload_id=upload_id,
    )


def create_or_winner(asset: Asset, store: Store) -> tuple[Asset | None, bool]:
    """(asset, True) once its record is written; or, when the same bytes became an asset
    meanwhile (a concurrent import or upload won the race), this copy's object removed and
    (that asset, False): None if it is gone again already."""
    try:
        store.create_asset(asset)
    except Conflict:
        aws.s3().delete_object(Bucket=settings().assets_bucket, Key=asset.s3_key)
        return store.asset_with_sha256(asset.account_id, asset.sha256), False
    return asset, True
