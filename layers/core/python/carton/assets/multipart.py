"""Uploads over the multipart threshold: S3 multipart uploads whose parts the client PUTs
to presigned URLs (signed in batches when it asks, so none expires before its turn), then
completes through Carton; and the copy of an ingested file too large for one CopyObject."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from carton.accounts.models import Principal, Role
from carton.assets.api import CompleteUploadRequest, SignedPart, SignedParts, SignPartsRequest
from carton.assets.models import MAX_FORM_BYTES, Upload, UploadState, part_size_for
from carton.shared import aws, presign
from carton.shared.config import PRESIGNED_URL_TTL_SECONDS, settings
from carton.shared.errors import Conflict, Forbidden, ValidationFailed, error_code
from carton.shared.fields import utcnow
from carton.storage.objects import upload_object_key
from carton.store import Store

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

# A copy of one object moves at most this much per UploadPartCopy (S3 takes up to 5 GiB).
COPY_PART = 1024 * 1024 * 1024


def open_multipart(upload: Upload) -> Upload:
    """Start the S3 multipart upload a large file's parts go to."""
    key = upload_object_key(upload.account_id, upload.upload_id, upload.filename)
    started = aws.s3().create_multipart_upload(
        Bucket=settings().assets_bucket, Key=key, ContentType=upload.content_type
    )
    return upload.model_copy(update={"multipart_id": started["UploadId"], "part_size": part_size_for(upload.size)})


def _pending_multipart(principal: Principal, upload_id: str, store: Store) -> Upload:
    upload = store.get_upload(principal.account_id, upload_id)
    if principal.role is not Role.ADMIN and upload.created_by != principal.user_id:
        raise Forbidden("This upload belongs to another user", {"upload_id": ["not yours"]})
    if upload.multipart_id is None:
        raise Conflict("Not a multipart upload", {"upload_id": ["this upload takes one POST form, not parts"]})
    if upload.state is not UploadState.PENDING:
        raise Conflict("The upload is settled", {"state": [f"upload is {upload.state.value}"]})
    return upload


def sign_parts(principal: Principal, upload_id: str, request: SignPartsRequest, store: Store) -> SignedParts:
    upload = _pending_multipart(principal, upload_id, store)
    count, size = upload.part_count or 0, upload.part_size or 0
    beyond = sorted({number for number in request.numbers if number > count})
    if beyond:
        raise ValidationFailed("No such parts", {"numbers": [f"this upload has parts 1 to {count}; not {beyond[0]}"]})
    key = upload_object_key(upload.account_id, upload.upload_id, upload.filename)
    bucket = settings().assets_bucket
    return SignedParts(
        parts=[
            SignedPart(
                number=number,
                url=presign.upload_part(bucket, key, upload.multipart_id or "", number),
                size=min(size, upload.size - (number - 1) * size),
            )
            for number in sorted(set(request.numbers))
        ],
        expires_at=utcnow() + timedelta(seconds=PRESIGNED_URL_TTL_SECONDS),
    )


# What S3 says when the parts do not make the upload, in the client's words.
_REFUSED_PARTS = {
    "InvalidPart": "a part is missing or its etag is not the one S3 gave",
    "InvalidPartOrder": "parts must be listed in ascending order",
    "EntityTooSmall": "every part but the last must have part_size bytes",
}


def complete(principal: Principal, upload_id: str, request: CompleteUploadRequest, store: Store) -> Upload:
    """Assemble the sent parts; S3's event then ingests the file as for a form upload."""
    upload = _pending_multipart(principal, upload_id, store)
    numbers = [part.number for part in request.parts]
    if numbers != list(range(1, (upload.part_count or 0) + 1)):
        raise ValidationFailed(
            "Parts incomplete", {"parts": [f"list every part, 1 to {upload.part_count}, once, in order"]}
        )
    key = upload_object_key(upload.account_id, upload.upload_id, upload.filename)
    try:
        aws.s3().complete_multipart_upload(
            Bucket=settings().assets_bucket,
            Key=key,
            UploadId=upload.multipart_id or "",
            MultipartUpload={"Parts": [{"PartNumber": part.number, "ETag": part.etag} for part in request.parts]},
        )
    except ClientError as error:
        code = error_code(error)
        if code in _REFUSED_PARTS:
            raise ValidationFailed("S3 refused the parts", {"parts": [_REFUSED_PARTS[code]]}) from error
        if code == "NoSuchUpload":
            if _assembled(key, upload.size):  # an earlier attempt completed it (a client's retry)
                return upload
            over = {"upload_id": ["completed already, or aborted after a day"]}
            raise Conflict("The upload is over", over) from error
        raise
    return upload


def _assembled(key: str, size: int) -> bool:
    """Whether S3 holds the file the upload's parts make (an earlier completion's)."""
    try:
        return aws.s3().head_object(Bucket=settings().assets_bucket, Key=key)["ContentLength"] == size
    except ClientError:
        return False


def copy_object(source_key: str, etag: str, target_key: str, content_type: str, size: int) -> str:
    """Copy within the assets bucket (pinned to `etag`), in parts when one CopyObject cannot
    (over 5 GiB); the copy's ETag."""
    s3, bucket = aws.s3(), settings().assets_bucket
    if size <= MAX_FORM_BYTES:
        copied = s3.copy_object(
            Bucket=bucket,
            Key=target_key,
            CopySource={"Bucket": bucket, "Key": source_key},
            CopySourceIfMatch=etag,
            ContentType=content_type,
            MetadataDirective="REPLACE",
            ChecksumAlgorithm="CRC32",
        )
        return str(copied["CopyObjectResult"]["ETag"])
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=target_key, ContentType=content_type)["UploadId"]
    try:
        parts: list[CompletedPartTypeDef] = []
        for number, start in enumerate(range(0, size, COPY_PART), start=1):
            end = min(start + COPY_PART, size) - 1
            answer = s3.upload_part_copy(
                Bucket=bucket,
                Key=target_key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource={"Bucket": bucket, "Key": source_key},
                CopySourceIfMatch=etag,
                CopySourceRange=f"bytes={start}-{end}",
            )
            parts.append({"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]})
        done = s3.complete_multipart_upload(
            Bucket=bucket, Key=target_key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        s3.abort_multipart_upload(Bucket=bucket, Key=target_key, UploadId=upload_id)
        raise
    return str(done["ETag"])
