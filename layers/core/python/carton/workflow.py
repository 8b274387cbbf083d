"""The packaging workflow's steps: prepare → package → complete, and fail.

Each step is one Lambda invoked by the state machine (infra/workflow.asl.json) with
{"account_id", "download_id"} and returns what the next step needs.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

from botocore.exceptions import ClientError

from carton import aws
from carton.archive import ZIP32_LIMIT, ArchivePlan, Member, plan_archive, safe_entry_name, unique_names
from carton.assembly import Source, assemble
from carton.config import settings
from carton.errors import Conflict, NotFound, PackagingError
from carton.media import media_group
from carton.models import (
    Asset,
    Derived,
    Download,
    DownloadError,
    DownloadState,
    Progress,
    RenditionSpec,
    Target,
    TargetState,
    utcnow,
)
from carton.packaging import PlanDocument, decode, document_of, encode, pack_parts
from carton.renditions import CannotDerive, derived_for
from carton.schema import ARCHIVES_PREFIX, PLANS_PREFIX
from carton.store import Store

MANIFEST_NAME = "manifest.json"
# HEAD requests in flight while checking that every source is still the ingested version.
_SOURCE_CHECKS = 16
_CODED_MESSAGE = re.compile(r"^(\w+): (.*)$", re.DOTALL)


def entry_path(download: Download, asset: Asset, position: int, extension: str | None = None) -> str:
    """The file's path in the archive: the name template, made safe, in its folder.

    `extension` replaces the original's when a rendition or conversion changed the format.
    """
    # A file name is a name: whatever folders it claims (either slash) are dropped.
    path = PurePosixPath(re.split(r"[\\/]", asset.filename)[-1] or asset.asset_id)
    ext = extension if extension is not None else path.suffix
    fields = {
        "filename": path.stem + ext,
        "stem": path.stem,
        "ext": ext,
        "key": asset.asset_id,
        "title": asset.title(download.options.culture) or path.stem,
        "position": str(position + 1),
    }
    name = download.options.name_template.format(**fields).replace("/", "_")
    filename = safe_entry_name(name, fallback=asset.asset_id)
    if download.layout == "folders":
        return f"{safe_entry_name(asset.asset_id)}/{filename}"
    return filename


def _skipped(download: Download, asset_id: str, position: int, reason: str, rendition: str = "original") -> Target:
    return Target(
        download_id=download.download_id,
        asset_id=asset_id,
        position=position,
        rendition=rendition,
        state=TargetState.SKIPPED,
        reason=reason,
    )


Derive = Callable[[Asset, RenditionSpec], Derived]


def plan_targets(download: Download, assets: dict[str, Asset], derive: Derive) -> list[Target]:
    """One target per requested asset, in request order, with unique safe paths.

    `derive` makes (or finds) a rendition or conversion. Raises PackagingError for a
    missing asset when the download says on_missing=fail.
    """
    targets: list[Target] = []
    missing = [asset_id for asset_id in download.asset_ids if asset_id not in assets]
    if missing and download.options.on_missing == "fail":
        raise PackagingError("asset_missing", f"{len(missing)} asset(s) no longer exist: {', '.join(missing[:10])}")
    for position, asset_id in enumerate(download.asset_ids):
        asset = assets.get(asset_id)
        if asset is None:
            targets.append(_skipped(download, asset_id, position, "asset was deleted after the download was requested"))
            continue
        spec = download.options.renditions.for_asset(asset_id, media_group(asset.content_type))
        original = Target(
            download_id=download.download_id,
            asset_id=asset_id,
            position=position,
            path=entry_path(download, asset, position),
            size=asset.size,
            crc32=asset.crc32,
            sha256=asset.sha256,
            source_key=asset.s3_key,
            source_etag=asset.etag,
        )
        if spec.is_original:
            targets.append(original)
            continue
        try:
            derived = derive(asset, spec)
        except CannotDerive as cannot:
            targets.append(original.model_copy(update={"reason": f"{spec.label()} not made: {cannot}"}))
            continue
        targets.append(
            original.model_copy(
                update={
                    "rendition": derived.label,
                    "path": entry_path(download, asset, position, derived.extension),
                    "size": derived.size,
                    "crc32": derived.crc32,
                    "sha256": derived.sha256,
                    "source_key": derived.s3_key,
                    "source_etag": derived.etag,
                }
            )
        )
    packed = [target for target in targets if target.state is TargetState.PLANNED]
    # The manifest's name is reserved: a file called manifest.json gets a counter.
    reserved = [MANIFEST_NAME] if download.options.include_manifest else []
    names = unique_names([*reserved, *(target.path or "" for target in packed)])[len(reserved) :]
    return [
        target.model_copy(update={"path": names.pop(0)}) if target.state is TargetState.PLANNED else target
        for target in targets
    ]


def manifest_bytes(download: Download, targets: Iterable[Target]) -> bytes:
    files = [
        {
            "path": t.path,
            "asset_id": t.asset_id,
            "rendition": t.rendition,
            "size": t.size,
            "sha256": t.sha256,
            "crc32": f"{t.crc32:08x}",
        }
        for t in targets
        if t.state is not TargetState.SKIPPED and t.crc32 is not None
    ]
    skipped = [{"asset_id": t.asset_id, "reason": t.reason} for t in targets if t.state is TargetState.SKIPPED]
    document = {"download_id": download.download_id, "name": download.name, "files": files, "skipped": skipped}
    return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")


def archive_plan(download: Download, targets: list[Target]) -> tuple[ArchivePlan, list[Source], list[bool]]:
    """The archive's layout, each member's source and whether it counts as a requested file."""
    packed = first_entry_small([t for t in targets if t.state is not TargetState.SKIPPED])
    members = [Member(name=t.path or "", size=t.size or 0, crc32=t.crc32 or 0) for t in packed]
    sources = [Source(t.source_key or "", t.source_etag or "", t.size or 0) for t in packed]
    counted = [True] * len(packed)
    if download.options.include_manifest:
        manifest = manifest_bytes(download, targets)
        members.append(Member(name=MANIFEST_NAME, size=len(manifest), crc32=zlib.crc32(manifest)))
        sources.append(Source("", "", len(manifest), inline=manifest))
        counted.append(False)
    return plan_archive(members, modified=download.created_at), sources, counted


def first_entry_small(packed: list[Target]) -> list[Target]:
    """A first entry of 4 GiB or more would carry ZIP64 fields, which macOS's and Safari's
    automatic extraction refuse; a smaller file, if there is one, goes first instead."""
    if packed and (packed[0].size or 0) >= ZIP32_LIMIT:
        small = next((i for i, t in enumerate(packed) if (t.size or 0) < ZIP32_LIMIT), None)
        if small is not None:
            return [packed[small], *packed[:small], *packed[small + 1 :]]
    return packed


def plan_key(account_id: str, download_id: str) -> str:
    return f"{PLANS_PREFIX}{account_id}/{download_id}.json"


def _unreadable(targets: list[Target]) -> dict[str, str]:
    """Sources that are gone or changed since ingest, by asset id, with the reason."""
    s3, bucket = aws.s3(), settings().assets_bucket

    def check(target: Target) -> tuple[str, str | None]:
        try:
            s3.head_object(Bucket=bucket, Key=target.source_key or "", IfMatch=target.source_etag or "")
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                return target.asset_id, "the stored file no longer exists"
            if code in ("412", "PreconditionFailed"):
                return target.asset_id, "the stored file changed after it was ingested"
            raise
        return target.asset_id, None

    with ThreadPoolExecutor(max_workers=_SOURCE_CHECKS) as pool:
        found = pool.map(check, [t for t in targets if t.state is TargetState.PLANNED])
        return {asset_id: reason for asset_id, reason in found if reason is not None}


def prepare(account_id: str, download_id: str, store: Store) -> dict[str, Any]:
    """Resolve assets and renditions, check every source, plan the archive and its parts,
    open the multipart upload. Returns the groups of parts for the workers."""
    download = store.update_download(
        account_id, download_id, expect=[DownloadState.PENDING], state=DownloadState.PACKAGING
    )
    targets = plan_targets(
        download, store.get_assets(account_id, download.asset_ids), lambda asset, spec: derived_for(asset, spec, store)
    )
    unreadable = _unreadable(targets)
    if unreadable and download.options.on_missing == "fail":
        first = next(iter(unreadable.items()))
        raise PackagingError("source_missing", f"{len(unreadable)} file(s) unreadable, e.g. {first[0]}: {first[1]}")
    targets = [
        _skipped(download, t.asset_id, t.position, unreadable[t.asset_id], t.rendition)
        if t.asset_id in unreadable
        else t
        for t in targets
    ]
    store.put_targets(download, targets)
    planned = [t for t in targets if t.state is TargetState.PLANNED]
    plan, sources, counted = archive_plan(download, targets)
    parts = assemble(plan, sources)
    s3, bucket = aws.s3(), settings().archives_bucket
    key = f"{ARCHIVES_PREFIX}{account_id}/{download_id}/{download.zip_filename}"
    upload_id = s3.create_multipart_upload(
        Bucket=bucket, Key=key, ContentType="application/zip", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
    )["UploadId"]
    try:
        document = document_of(parts, key, upload_id, sources, counted)
        s3.put_object(Bucket=bucket, Key=plan_key(account_id, download_id), Body=encode(document))
        # Recorded so that DELETE and the failure step can abort it; fails if deleted meanwhile.
        store.update_download(
            account_id,
            download_id,
            expect=[DownloadState.PACKAGING],
            target_count=len(targets),
            archive_key=key,
            upload_id=upload_id,
            progress=Progress(
                files_total=len(planned),
                files_skipped=len(targets) - len(planned),
                bytes_total=sum(t.size or 0 for t in planned),
            ),
        )
    except BaseException:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    groups = [{"first": first, "last": last} for first, last in parts.groups()]
    return {"account_id": account_id, "download_id": download_id, "parts": len(parts.parts), "groups": groups}


@lru_cache(maxsize=4)
def _document(bucket: str, key: str, etag: str) -> PlanDocument:
    """Plans are immutable: a warm worker reads each once."""
    return decode(aws.s3().get_object(Bucket=bucket, Key=key, IfMatch=etag)["Body"].read())


def pack(account_id: str, download_id: str, first: int, last: int, store: Store) -> dict[str, Any]:
    """A worker: upload parts `first`..`last`, then add what they hold to the progress."""
    bucket = settings().archives_bucket
    key = plan_key(account_id, download_id)
    try:
        etag = aws.s3().head_object(Bucket=bucket, Key=key)["ETag"]
    except ClientError as error:
        raise PackagingError("plan_missing", "the archive plan is gone (the download was deleted?)") from error
    document = _document(bucket, key, etag)
    result = pack_parts(aws.s3(), document, first, last, settings().assets_bucket, bucket)
    store.add_progress(account_id, download_id, files=result.files_done, size=result.bytes_done)
    return {"parts": result.parts, "streamed_bytes": result.streamed_bytes, "copied_bytes": result.copied_bytes}


def complete(account_id: str, download_id: str, store: Store) -> dict[str, Any]:
    """Finish the upload and mark the download complete, but only if S3 holds exactly the
    planned archive: every part, the planned size, and (where S3 reports it) the CRC-32."""
    download = store.get_download(account_id, download_id)
    s3, bucket = aws.s3(), settings().archives_bucket
    document = decode(s3.get_object(Bucket=bucket, Key=plan_key(account_id, download_id))["Body"].read())
    uploaded: list[Any] = []
    for page in s3.get_paginator("list_parts").paginate(
        Bucket=bucket, Key=document.archive_key, UploadId=document.upload_id
    ):
        uploaded.extend(page.get("Parts", []))
    sizes = {part["PartNumber"]: part["Size"] for part in uploaded}
    missing = [part.number for part in document.parts if sizes.get(part.number) != part.size]
    if missing:
        raise PackagingError("parts_missing", f"{len(missing)} part(s) missing or of the wrong size, e.g. {missing[0]}")
    crc = base64.b64encode(document.crc32.to_bytes(4, "big")).decode()
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=document.archive_key,
        UploadId=document.upload_id,
        MultipartUpload={
            "Parts": sorted(
                ({"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in uploaded), key=lambda p: p["PartNumber"]
            )
        },
        ChecksumCRC32=crc,
        ChecksumType="FULL_OBJECT",
    )
    head = s3.head_object(Bucket=bucket, Key=document.archive_key, ChecksumMode="ENABLED")
    if head["ContentLength"] != document.size:
        raise PackagingError(
            "archive_size_mismatch", f"archive holds {head['ContentLength']} bytes, the plan {document.size}"
        )
    if head.get("ChecksumType") == "FULL_OBJECT" and head.get("ChecksumCRC32") not in (None, crc):
        raise PackagingError("archive_crc_mismatch", f"S3 reports CRC-32 {head.get('ChecksumCRC32')}, the plan {crc}")
    targets = store.targets(account_id, download_id)
    store.put_targets(
        download,
        [t.model_copy(update={"state": TargetState.PACKED}) if t.state is TargetState.PLANNED else t for t in targets],
    )
    now = utcnow()
    totals = download.progress
    store.update_download(
        account_id,
        download_id,
        expect=[DownloadState.PACKAGING],
        state=DownloadState.COMPLETE,
        size=document.size,
        completed_at=now,
        expires_at=now + timedelta(days=settings().archive_expiry_days),
        upload_id=None,
        progress=totals.model_copy(update={"files_done": totals.files_total, "bytes_done": totals.bytes_total}),
    )
    s3.delete_object(Bucket=bucket, Key=plan_key(account_id, download_id))
    return {"account_id": account_id, "download_id": download_id, "state": DownloadState.COMPLETE.value}


def _error_from(failure: dict[str, Any]) -> DownloadError:
    """The error the state machine caught: {"Error": type, "Cause": Lambda's JSON}."""
    code = str(failure.get("Error") or "error")
    message = str(failure.get("Cause") or code)
    with contextlib.suppress(ValueError, AttributeError):  # a Cause that is not Lambda's JSON
        message = str(json.loads(message).get("errorMessage") or message)
    if code == PackagingError.__name__ and (coded := _CODED_MESSAGE.match(message)):
        code, message = coded.group(1), coded.group(2)
    return DownloadError(code=code, message=message[:1000])


def fail(account_id: str, download_id: str, failure: dict[str, Any], store: Store) -> dict[str, Any]:
    """Abort any unfinished upload and record the failure on the download."""
    error = _error_from(failure)
    try:
        download = store.get_download(account_id, download_id)
    except NotFound:
        return {"account_id": account_id, "download_id": download_id, "state": "gone"}
    if download.upload_id and download.archive_key:
        try:
            aws.s3().abort_multipart_upload(
                Bucket=settings().archives_bucket, Key=download.archive_key, UploadId=download.upload_id
            )
        except ClientError as client_error:
            if client_error.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise
    aws.s3().delete_object(Bucket=settings().archives_bucket, Key=plan_key(account_id, download_id))
    with contextlib.suppress(Conflict):  # deleted or finished meanwhile: nothing left to mark
        store.fail_download(account_id, download_id, error)
    return {
        "account_id": account_id,
        "download_id": download_id,
        "state": DownloadState.FAILED.value,
        "error": error.model_dump(),
    }


def archive_removed(archive_key: str, store: Store) -> None:
    """An archive left S3 (lifecycle expiry or removal): its download is expired."""
    relative = archive_key.removeprefix(ARCHIVES_PREFIX)
    parts = relative.split("/", 2)
    if not archive_key.startswith(ARCHIVES_PREFIX) or len(parts) < 3:
        return
    account_id, download_id = parts[0], parts[1]
    with contextlib.suppress(Conflict):  # not complete (deleted, or a replaced archive): nothing to expire
        store.update_download(account_id, download_id, expect=[DownloadState.COMPLETE], state=DownloadState.EXPIRED)
