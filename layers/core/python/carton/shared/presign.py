"""Presigned S3 requests Carton hands to clients: archive GETs and upload forms.

Both are SigV4 (carton.shared.aws configures S3 so), the only signature S3 buckets created
since June 2020 accept. An upload is a POST form whose policy S3 itself enforces: the
exact key, the content type and the size (`content-length-range`), so a body of another
size never lands in the bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from carton.shared import aws
from carton.shared.config import PRESIGNED_URL_TTL_SECONDS
from carton.shared.fields import utcnow


def content_disposition(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def archive_get(bucket: str, key: str, filename: str, content_type: str) -> str:
    """A GET of one object, served as an attachment named `filename`."""
    return aws.s3().generate_presigned_url(
        "get_object",
        Params={
            "Bucket": bucket,
            "Key": key,
            "ResponseContentDisposition": content_disposition(filename),
            "ResponseContentType": content_type,
        },
        ExpiresIn=PRESIGNED_URL_TTL_SECONDS,
    )


@dataclass(frozen=True)
class UploadForm:
    """POST `fields` (in this order) and then the file as the form's last part, `file`."""

    url: str
    fields: dict[str, str]
    expires_at: datetime


def upload_form(bucket: str, key: str, content_type: str, size: int) -> UploadForm:
    fields = {"Content-Type": content_type}
    post = aws.s3().generate_presigned_post(
        Bucket=bucket,
        Key=key,
        Fields=fields,
        Conditions=[{"Content-Type": content_type}, ["content-length-range", size, size]],
        ExpiresIn=PRESIGNED_URL_TTL_SECONDS,
    )
    return UploadForm(
        url=post["url"],
        fields={name: str(value) for name, value in post["fields"].items()},
        expires_at=utcnow() + timedelta(seconds=PRESIGNED_URL_TTL_SECONDS),
    )


def upload_part(bucket: str, key: str, upload_id: str, number: int) -> str:
    """A PUT of one part of a multipart upload (its ETag comes back in the answer's header)."""
    return aws.s3().generate_presigned_url(
        "upload_part",
        Params={"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": number},
        ExpiresIn=PRESIGNED_URL_TTL_SECONDS,
    )
