"""What a download leaves in the archives bucket until it ends — open multipart uploads,
its plan, an archive that never became complete — and their removal: one routine for the
failure step, DELETE and the sweeper."""

from __future__ import annotations

import contextlib

from botocore.exceptions import ClientError

from carton.downloads.models import Download
from carton.shared import aws
from carton.shared.config import settings
from carton.shared.errors import error_code
from carton.shared.observability import logger
from carton.storage.objects import archive_key, archive_prefix, plan_key


def open_uploads_under(bucket: str, prefix: str) -> list[tuple[str, str]]:
    """(key, upload id) of every unfinished multipart upload under `prefix`
    (s3:ListBucketMultipartUploads)."""
    found: list[tuple[str, str]] = []
    for page in aws.s3().get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
        found.extend((upload["Key"], upload["UploadId"]) for upload in page.get("Uploads", []))
    return found


def abort(bucket: str, key: str, upload_id: str) -> None:
    try:
        aws.s3().abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except ClientError as error:
        if error_code(error) != "NoSuchUpload":  # aborted or completed already
            raise


def remove_leftovers(
    account_id: str, download_id: str, *, upload: tuple[str, str] | None = None, archive_key: str | None = None
) -> None:
    """Abort the recorded `upload` (key, id) and any other upload open under the download's
    prefix (one an attempt opened but did not live to record), remove the plan and, when
    given, the archive object (never one a complete download serves: callers decide)."""
    s3, bucket = aws.s3(), settings().archives_bucket
    if upload is not None:
        abort(bucket, *upload)
    try:
        for key, upload_id in open_uploads_under(bucket, archive_prefix(account_id, download_id)):
            abort(bucket, key, upload_id)
    except ClientError as error:  # the rest matters more; S3's lifecycle aborts it after a day
        logger.warning("could not list unfinished uploads", download_id=download_id, error=error_code(error))
    s3.delete_object(Bucket=bucket, Key=plan_key(account_id, download_id))
    if archive_key is not None:
        with contextlib.suppress(ClientError):
            s3.delete_object(Bucket=bucket, Key=archive_key)


def archive_key_of(download: Download) -> str:
    """Where the download's archive is (or will be) assembled."""
    return download.archive_key or archive_key(download.account_id, download.download_id, download.zip_filename)
