"""Files of any size through S3: an upload ticket (a presigned POST form whose policy S3
enforces), then the S3 event's ingest — checked, de-duplicated, settled once."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

from botocore.exceptions import ClientError

from carton.accounts.models import Principal
from carton.assets.api import UploadOut, UploadRequest
from carton.assets.models import MAX_FORM_BYTES, AssetMetadata, Upload, UploadState
from carton.assets.multipart import copy_object, open_multipart
from carton.assets.service import ACCEPTED_TYPES, READ_CHUNK, create_or_winner, key_for_upload, new_asset
from carton.shared import aws, presign
from carton.shared.checksums import Checksummer, Checksums
from carton.shared.config import settings
from carton.shared.errors import MISSING, NotFound, ValidationFailed, error_code
from carton.shared.fields import utcnow
from carton.shared.images import DimensionReader, ImageTooLarge
from carton.shared.media import ALLOWED_TYPES, IMAGE_TYPES, SNIFF_BYTES, agrees, normalise, sniff
from carton.shared.observability import measure
from carton.storage.objects import asset_object_key, upload_object_key, upload_of
from carton.store import Store


def upload_key(upload: Upload) -> str:
    return upload_object_key(upload.account_id, upload.upload_id, upload.filename)


def create_upload(principal: Principal, request: UploadRequest, store: Store, base: str) -> UploadOut:
    content_type = normalise(request.content_type)
    if content_type not in ALLOWED_TYPES:
        raise ValidationFailed("Unsupported content type", {"content_type": [f"one of: {ACCEPTED_TYPES}"]})
    upload = Upload(
        account_id=principal.account_id,
        upload_id=secrets.token_hex(12),
        filename=request.filename,
        content_type=content_type,
        size=request.size,
        created_by=principal.user_id,
        batch=request.batch,
    )
    if request.size > settings().multipart_threshold:
        upload = open_multipart(upload)
        store.put_upload(upload)
        return UploadOut.of(upload, base)
    if request.size > MAX_FORM_BYTES:  # a deployment's threshold above what one form takes
        raise ValidationFailed("File too large for one form", {"size": [f"at most {MAX_FORM_BYTES} bytes"]})
    store.put_upload(upload)
    form = presign.upload_form(settings().assets_bucket, upload_key(upload), content_type, request.size)
    return UploadOut.of(upload, base).model_copy(
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
    summer, head = Checksummer(), b""
    dimensions = DimensionReader() if upload.content_type in IMAGE_TYPES else None
    checked = False
    for chunk in chunks:
        summer.update(chunk)
        if not checked:
            head += chunk[: SNIFF_BYTES - len(head)]
            if len(head) >= SNIFF_BYTES or summer.size >= upload.size:
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
    if summer.size == 0:
        raise Rejected("the file is empty", "empty")
    if dimensions is not None and dimensions.size is None:
        raise Rejected("not a readable image", "image")
    return summer.result(), dimensions.size if dimensions else None


def ingest_upload(key: str, store: Store) -> Upload | None:
    """S3 told us `uploads/{account}/{upload_id}/{name}` arrived: check it, de-duplicate it,
    move it under its asset key. A repeated delivery finds the upload settled and does nothing."""
    found = upload_of(key)
    if found is None:
        return None
    account_id, upload_id = found
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
    # The same id on every attempt: a retried ingest overwrites its own copy, never leaves one.
    asset_id = key_for_upload(upload.upload_id)
    target = asset_object_key(upload.account_id, asset_id, upload.filename)
    copied_etag = copy_object(key, etag, target, upload.content_type, sums.size)
    metadata = AssetMetadata(filename=upload.filename)
    stored = (target, copied_etag)
    asset = new_asset(
        upload.account_id,
        asset_id,
        metadata,
        upload.content_type,
        sums,
        size,
        stored,
        batch=upload.batch,
        upload_id=upload.upload_id,
    )
    written, _ = create_or_winner(asset, store)
    # Another delivery of this very upload may have got there first: the same result, not a duplicate.
    duplicate = written is None or written.upload_id != upload.upload_id
    return upload.model_copy(
        update={**ingested, "asset_id": written.asset_id if written else None, "duplicate": duplicate}
    )
