"""The archive's multipart upload across attempts: what an earlier attempt opened,
found and aborted; the parts S3 holds; the assembled archive checked against the plan."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from carton.downloads.models import Download, DownloadState
from carton.packaging.leftovers import abort, archive_key_of, open_uploads_under
from carton.packaging.workers import PlanDocument
from carton.shared import aws
from carton.shared.config import settings
from carton.shared.errors import FORBIDDEN, MISSING, PackagingError, error_code
from carton.store import Store


def _open_uploads(bucket: str, key: str) -> list[str]:
    """Every unfinished multipart upload of `key` (s3:ListBucketMultipartUploads)."""
    return [upload_id for found, upload_id in open_uploads_under(bucket, key) if found == key]


def abort_earlier_attempt(download: Download, store: Store) -> None:
    """Prepare runs again after a timeout: abort any upload an earlier attempt opened,
    whether or not it lived to record it, before this attempt opens its own."""
    bucket, key = settings().archives_bucket, archive_key_of(download)
    try:
        open_uploads = _open_uploads(bucket, key)
    except ClientError as error:
        if error_code(error) in FORBIDDEN:
            raise PackagingError(
                "archives_forbidden",
                "Carton may not list the unfinished uploads of its archives bucket (s3:ListBucketMultipartUploads); "
                "check the deployment's permissions",
            ) from error
        raise
    if download.upload_id:
        abort(bucket, download.archive_key or key, download.upload_id)
    for upload_id in open_uploads:
        abort(bucket, key, upload_id)
    if download.upload_id:
        store.update_download(
            download.account_id, download.download_id, expect=[DownloadState.PACKAGING], upload_id=None
        )


def uploaded_parts(document: PlanDocument) -> list[Any] | None:
    """The parts S3 holds for the upload, or None when it is no longer open (completed,
    or aborted)."""
    uploaded: list[Any] = []
    try:
        for page in (
            aws.s3()
            .get_paginator("list_parts")
            .paginate(Bucket=settings().archives_bucket, Key=document.archive_key, UploadId=document.upload_id)
        ):
            uploaded.extend(page.get("Parts", []))
    except ClientError as error:
        if error_code(error) == "NoSuchUpload":
            return None
        raise
    return uploaded


def check_archive(document: PlanDocument, crc: str) -> datetime:
    """The archive S3 holds is exactly the planned one (size, and the FULL_OBJECT CRC-32
    where S3 reports it); one that is not is removed, so no wrong archive outlives the
    failure. Returns when S3 says it was created, which its lifecycle counts from."""
    s3, bucket = aws.s3(), settings().archives_bucket
    try:
        head = s3.head_object(Bucket=bucket, Key=document.archive_key, ChecksumMode="ENABLED")
    except ClientError as error:
        code = error_code(error)
        if code in MISSING:
            raise PackagingError(
                "upload_gone", "the archive's upload was aborted (the download was deleted?)"
            ) from error
        if code in FORBIDDEN:
            raise PackagingError(
                "archive_forbidden",
                "Carton may not read its archives bucket (s3:GetObject/s3:ListBucket); "
                "check the deployment's permissions",
            ) from error
        raise
    problem: PackagingError | None = None
    if head["ContentLength"] != document.size:
        problem = PackagingError(
            "archive_size_mismatch", f"archive holds {head['ContentLength']} bytes, the plan {document.size}"
        )
    elif head.get("ChecksumType") == "FULL_OBJECT" and head.get("ChecksumCRC32") not in (None, crc):
        problem = PackagingError(
            "archive_crc_mismatch", f"S3 reports CRC-32 {head.get('ChecksumCRC32')}, the plan {crc}"
        )
    if problem is not None:
        s3.delete_object(Bucket=bucket, Key=document.archive_key)
        raise problem
    created: datetime = head["LastModified"]
    return created
