"""Turning stored bytes into assets: size, SHA-256 and CRC-32 computed in one read.

The CRC-32 recorded here is what the archive's ZIP headers will say, so it must be
the CRC of the exact bytes (tests check it against zlib).
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from carton import aws
from carton.archive import safe_entry_name
from carton.config import settings
from carton.models import Asset
from carton.packaging import READ_CHUNK
from carton.schema import ASSETS_PREFIX, UPLOADS_PREFIX
from carton.store import Store


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


def asset_key(account_id: str, asset_id: str, filename: str) -> str:
    return f"{ASSETS_PREFIX}{account_id}/{asset_id}/{safe_entry_name(filename).replace('/', '_')}"


def register_object(store: Store, account_id: str, asset_id: str, filename: str, key: str) -> Asset:
    """Read an object under the assets prefix once and record it as an asset."""
    s3, bucket = aws.s3(), settings().assets_bucket
    response = s3.get_object(Bucket=bucket, Key=key)
    sums = checksums(response["Body"].iter_chunks(READ_CHUNK))
    asset = Asset(
        account_id=account_id,
        asset_id=asset_id,
        filename=filename,
        content_type=response.get("ContentType") or "application/octet-stream",
        size=sums.size,
        sha256=sums.sha256,
        crc32=sums.crc32,
        etag=response["ETag"],
        s3_key=key,
    )
    store.put_asset(asset)
    return asset


def store_bytes(store: Store, account_id: str, asset_id: str, filename: str, content_type: str, data: bytes) -> Asset:
    key = asset_key(account_id, asset_id, filename)
    aws.s3().put_object(
        Bucket=settings().assets_bucket, Key=key, Body=data, ContentType=content_type, ChecksumAlgorithm="CRC32"
    )
    return register_object(store, account_id, asset_id, filename, key)


def ingest_upload(key: str, store: Store) -> Asset | None:
    """Ingest `uploads/{account}/{upload_id}/{filename}` as asset `upload_id`.

    Moves the object under the assets prefix and records it. A repeated delivery of
    the same event finds the upload gone and changes nothing.
    """
    parts = key.removeprefix(UPLOADS_PREFIX).split("/", 2)
    if not key.startswith(UPLOADS_PREFIX) or len(parts) != 3 or not all(parts):
        return None
    account_id, upload_id, filename = parts
    s3, bucket = aws.s3(), settings().assets_bucket
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            return None  # already ingested by an earlier delivery
        raise
    target = asset_key(account_id, upload_id, filename)
    s3.copy_object(
        Bucket=bucket,
        Key=target,
        CopySource={"Bucket": bucket, "Key": key},
        CopySourceIfMatch=head["ETag"],
        ChecksumAlgorithm="CRC32",
    )
    asset = register_object(store, account_id, upload_id, filename, target)
    s3.delete_object(Bucket=bucket, Key=key)
    return asset
