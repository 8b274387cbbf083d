"""Assembling a planned archive in S3, in parallel, in bounded memory.

The plan (carton.packaging.assembly) is written once as a JSON document beside the archive; each
worker reads it and uploads only its own parts — UploadPartCopy for large ranges
(server-side, no bytes through the worker), glue parts built from literal bytes and
ranged GETs. A worker retried after a crash redoes only its parts. Every source read is
pinned to the ETag recorded at ingest: a changed object fails the archive instead of
silently corrupting it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from carton.packaging.assembly import Assembly, Copy, Literal, Part, Source, Span
from carton.shared.errors import (
    CHANGED,
    FORBIDDEN,
    MISSING,
    PackagingError,
    StorageUnavailable,
    as_transient,
    error_code,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SOURCE_FORBIDDEN = (
    "Carton may not read its assets bucket (s3:GetObject/s3:ListBucket); check the deployment's permissions"
)
ARCHIVE_FORBIDDEN = "Carton may not write its archives bucket (s3:PutObject); check the deployment's permissions"


def source_forbidden(what: str) -> PackagingError:
    """S3 refused to let Carton read a source: a configuration error, never "missing".

    Without s3:ListBucket, S3 answers 403 even for a key that does not exist; the
    deployment grants it so that a missing source reads 404, and a 403 means exactly this.
    """
    return PackagingError("source_forbidden", f"{what}: {SOURCE_FORBIDDEN}")


@dataclass(frozen=True)
class PlanDocument:
    archive_key: str
    upload_id: str
    size: int
    crc32: int
    sources: tuple[Source, ...]
    parts: tuple[Part, ...]
    counted: tuple[bool, ...]  # members that count as requested files (not the manifest)


def _piece(piece: Literal | Span | Copy) -> list[Any]:
    if isinstance(piece, Literal):
        return ["L", base64.b64encode(piece.data).decode()]
    return ["C" if isinstance(piece, Copy) else "S", piece.member, piece.start, piece.end]


def _unpiece(raw: list[Any]) -> Literal | Span | Copy:
    if raw[0] == "L":
        return Literal(base64.b64decode(raw[1]))
    kind = Copy if raw[0] == "C" else Span
    return kind(int(raw[1]), int(raw[2]), int(raw[3]))


def encode(document: PlanDocument) -> bytes:
    return json.dumps(
        {
            "archive_key": document.archive_key,
            "upload_id": document.upload_id,
            "size": document.size,
            "crc32": document.crc32,
            "sources": [[s.key, s.etag, s.size] for s in document.sources],
            "counted": list(document.counted),
            "parts": [[part.number, [_piece(piece) for piece in part.pieces]] for part in document.parts],
        },
        separators=(",", ":"),
    ).encode()


def decode(data: bytes) -> PlanDocument:
    raw = json.loads(data)
    return PlanDocument(
        archive_key=raw["archive_key"],
        upload_id=raw["upload_id"],
        size=int(raw["size"]),
        crc32=int(raw["crc32"]),
        sources=tuple(Source(key, etag, int(size)) for key, etag, size in raw["sources"]),
        parts=tuple(Part(int(number), [_unpiece(piece) for piece in pieces]) for number, pieces in raw["parts"]),
        counted=tuple(bool(flag) for flag in raw["counted"]),
    )


def document_of(
    assembly: Assembly, archive_key: str, upload_id: str, sources: list[Source], counted: list[bool]
) -> PlanDocument:
    return PlanDocument(
        archive_key=archive_key,
        upload_id=upload_id,
        size=assembly.size,
        crc32=assembly.crc32,
        # Inline bytes already live in the parts as literals.
        sources=tuple(Source(s.key, s.etag, s.size) for s in sources),
        parts=assembly.parts,
        counted=tuple(counted),
    )


@dataclass
class PackResult:
    parts: int = 0
    streamed_bytes: int = 0  # bytes that passed through this worker
    copied_bytes: int = 0  # bytes S3 copied itself
    files_done: int = 0
    bytes_done: int = 0


def _storage_error(error: ClientError, what: str, *, reading: bool = True) -> Exception:
    """`reading`: the call read a source (GET, UploadPartCopy); else it only wrote the archive."""
    code = error_code(error)
    if code in CHANGED:
        return PackagingError("source_changed", f"{what} changed after it was ingested")
    if code in MISSING:
        return PackagingError("source_missing", f"{what} no longer exists")
    if code in FORBIDDEN:
        return (
            source_forbidden(what) if reading else PackagingError("archive_forbidden", f"{what}: {ARCHIVE_FORBIDDEN}")
        )
    if code == "NoSuchUpload":
        return PackagingError("upload_gone", "the archive's upload was aborted (the download was deleted?)")
    if (transient := as_transient(error)) is not None:
        return type(transient)(f"{what}: {code}")
    return error


def _glue(s3: S3Client, bucket: str, document: PlanDocument, part: Part) -> bytearray:
    buffer = bytearray()
    for piece in part.pieces:
        if isinstance(piece, Literal):
            buffer += piece.data
            continue
        source = document.sources[piece.member]
        try:
            body = s3.get_object(
                Bucket=bucket, Key=source.key, IfMatch=source.etag, Range=f"bytes={piece.start}-{piece.end - 1}"
            )["Body"]
            chunk = body.read()
        except ClientError as error:
            raise _storage_error(error, source.key) from error
        except BotoCoreError as error:  # connection reset, timeout, body cut short
            raise StorageUnavailable(f"{source.key}: {type(error).__name__}") from error
        if len(chunk) != piece.end - piece.start:
            raise PackagingError("source_short", f"{source.key}: read {len(chunk)} bytes of {piece.end - piece.start}")
        buffer += chunk
        del chunk
    return buffer  # uploaded as it is: no second copy of the part


def pack_parts(
    s3: S3Client, document: PlanDocument, first: int, last: int, sources_bucket: str, archives_bucket: str
) -> PackResult:
    """Upload parts `first`..`last` (inclusive) of the planned archive."""
    result = PackResult()
    for part in document.parts[first - 1 : last]:
        copy = part.pieces[0] if part.is_copy else None
        try:
            if isinstance(copy, Copy):
                source = document.sources[copy.member]
                s3.upload_part_copy(
                    Bucket=archives_bucket,
                    Key=document.archive_key,
                    UploadId=document.upload_id,
                    PartNumber=part.number,
                    CopySource={"Bucket": sources_bucket, "Key": source.key},
                    CopySourceRange=f"bytes={copy.start}-{copy.end - 1}",
                    CopySourceIfMatch=source.etag,
                )
                result.copied_bytes += part.size
            else:
                data = _glue(s3, sources_bucket, document, part)
                s3.upload_part(
                    Bucket=archives_bucket,
                    Key=document.archive_key,
                    UploadId=document.upload_id,
                    PartNumber=part.number,
                    Body=cast(bytes, data),  # botocore sends a bytearray as it is
                )
                result.streamed_bytes += len(data)
        except ClientError as error:
            # The glue's own reads raised above; here a glue part failed only to be written.
            what = document.sources[copy.member].key if isinstance(copy, Copy) else f"part {part.number}"
            raise _storage_error(error, what, reading=isinstance(copy, Copy)) from error
        except BotoCoreError as error:
            raise StorageUnavailable(f"part {part.number}: {type(error).__name__}") from error
        result.parts += 1
        for piece in part.pieces:
            if isinstance(piece, Span | Copy) and document.counted[piece.member]:
                result.bytes_done += piece.end - piece.start
                result.files_done += piece.end == document.sources[piece.member].size
    return result
