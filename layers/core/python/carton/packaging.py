"""Streaming assembly of a planned archive into an S3 multipart upload.

Memory stays bounded by one part buffer plus one read chunk, whatever the archive
size. Every source read is pinned to the ETag recorded at ingest and its CRC-32 is
re-checked while streaming: a changed object fails the archive instead of silently
corrupting it.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from carton.archive import ArchivePlan
from carton.errors import PackagingError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

MIN_PART_SIZE = 5 * 1024 * 1024
PART_SIZE = 8 * 1024 * 1024
READ_CHUNK = 1024 * 1024


class MultipartSink:
    """Buffers written bytes into parts of `part_size` and uploads each when full."""

    def __init__(self, s3: S3Client, bucket: str, key: str, upload_id: str, part_size: int = PART_SIZE) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"parts must be at least {MIN_PART_SIZE} bytes")
        self._s3, self._bucket, self._key, self._upload_id = s3, bucket, key, upload_id
        self._part_size = part_size
        self._buffer = bytearray()
        self.parts: list[CompletedPartTypeDef] = []
        self.written = 0

    def write(self, data: bytes) -> None:
        self._buffer += data
        self.written += len(data)
        while len(self._buffer) >= self._part_size:
            chunk = bytes(self._buffer[: self._part_size])
            del self._buffer[: self._part_size]
            self._upload(chunk)

    def close(self) -> list[CompletedPartTypeDef]:
        if self._buffer or not self.parts:
            self._upload(bytes(self._buffer))
            self._buffer.clear()
        return self.parts

    def _upload(self, chunk: bytes) -> None:
        number = len(self.parts) + 1
        response = self._s3.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=chunk
        )
        self.parts.append({"PartNumber": number, "ETag": response["ETag"]})


class ThrottledProgress:
    """Calls `report(files, bytes)` at most once per `interval` seconds, and at the end."""

    def __init__(self, report: Callable[[int, int], None], interval: float = 2.0) -> None:
        self._report, self._interval = report, interval
        self._last = time.monotonic()
        self.files = 0
        self.bytes = 0

    def advance(self, files: int = 0, size: int = 0) -> None:
        self.files += files
        self.bytes += size
        if time.monotonic() - self._last >= self._interval:
            self.flush()

    def flush(self) -> None:
        self._last = time.monotonic()
        self._report(self.files, self.bytes)


SourceReader = Callable[[int], Iterable[bytes]]


def s3_source(s3: S3Client, bucket: str, key: str, etag: str) -> Iterable[bytes]:
    """The object's bytes, only if it is still the version recorded at ingest."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key, IfMatch=etag)["Body"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("PreconditionFailed", "412"):
            raise PackagingError("source_changed", f"{key} changed after it was ingested") from error
        if code in ("NoSuchKey", "404"):
            raise PackagingError("source_missing", f"{key} no longer exists") from error
        raise
    return body.iter_chunks(READ_CHUNK)


def write_archive(
    plan: ArchivePlan,
    read_member: Callable[[int], Iterable[bytes]],
    sink: MultipartSink,
    progress: ThrottledProgress,
) -> None:
    """Write the planned archive to `sink`; `read_member(i)` streams entry i's bytes."""
    for index, entry in enumerate(plan.entries):
        sink.write(entry.header)
        crc, size = 0, 0
        for chunk in read_member(index):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
            sink.write(chunk)
            progress.advance(size=len(chunk))
        if size != entry.member.size or crc != entry.member.crc32:
            raise PackagingError(
                "source_mismatch",
                f"{entry.member.name}: expected {entry.member.size} bytes with CRC-32 "
                f"{entry.member.crc32:08x}, read {size} bytes with {crc:08x}",
            )
        progress.advance(files=1)
    sink.write(plan.central_directory)
    if sink.written != plan.size:
        raise PackagingError("archive_size_mismatch", f"wrote {sink.written} bytes, planned {plan.size}")
