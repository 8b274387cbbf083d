"""The packaging workflow's steps: prepare → package → complete, and fail.

Each step is one Lambda invoked by the state machine (infra/workflow.asl.json) with
{"account_id", "download_id"} and returns what the next step needs.
"""

from __future__ import annotations

import contextlib
import json
import re
import zlib
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any

from botocore.exceptions import ClientError

from carton import aws
from carton.archive import ArchivePlan, Member, plan_archive, safe_entry_name, unique_names
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
from carton.packaging import MultipartSink, ThrottledProgress, s3_source, write_archive
from carton.renditions import CannotDerive, derived_for
from carton.schema import ARCHIVES_PREFIX
from carton.store import Store

MANIFEST_NAME = "manifest.json"
_CODED_MESSAGE = re.compile(r"^(\w+): (.*)$", re.DOTALL)


def entry_path(download: Download, asset: Asset, position: int, extension: str | None = None) -> str:
    """The file's path in the archive: the name template, made safe, in its folder.

    `extension` replaces the original's when a rendition or conversion changed the format.
    """
    path = PurePosixPath(asset.filename)
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


def archive_plan(download: Download, targets: list[Target]) -> tuple[ArchivePlan, bytes]:
    packed = [t for t in targets if t.state is not TargetState.SKIPPED]
    manifest = manifest_bytes(download, targets)
    members = [Member(name=t.path or "", size=t.size or 0, crc32=t.crc32 or 0) for t in packed]
    if download.options.include_manifest:
        members.append(Member(name=MANIFEST_NAME, size=len(manifest), crc32=zlib.crc32(manifest)))
    return plan_archive(members, modified=download.created_at), manifest


def prepare(account_id: str, download_id: str, store: Store) -> dict[str, Any]:
    download = store.update_download(
        account_id, download_id, expect=[DownloadState.PENDING], state=DownloadState.PACKAGING
    )
    targets = plan_targets(
        download, store.get_assets(account_id, download.asset_ids), lambda asset, spec: derived_for(asset, spec, store)
    )
    store.put_targets(download, targets)
    planned = [t for t in targets if t.state is TargetState.PLANNED]
    store.update_download(
        account_id,
        download_id,
        expect=[DownloadState.PACKAGING],
        target_count=len(targets),
        progress=Progress(
            files_total=len(planned),
            files_skipped=len(targets) - len(planned),
            bytes_total=sum(t.size or 0 for t in planned),
        ),
    )
    return {"account_id": account_id, "download_id": download_id}


def package(account_id: str, download_id: str, store: Store) -> dict[str, Any]:
    download = store.get_download(account_id, download_id)
    targets = store.targets(account_id, download_id)
    plan, manifest = archive_plan(download, targets)
    packed = [t for t in targets if t.state is not TargetState.SKIPPED]
    s3, bucket = aws.s3(), settings().archives_bucket
    key = f"{ARCHIVES_PREFIX}{account_id}/{download_id}/{download.zip_filename}"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="application/zip")["UploadId"]

    def read_member(index: int) -> Iterable[bytes]:
        if index == len(packed):
            return [manifest]
        target = packed[index]
        return s3_source(s3, settings().assets_bucket, target.source_key or "", target.source_etag or "")

    def report(files: int, size: int) -> None:
        # The manifest is written last and is not one of the requested files.
        totals = download.progress
        progress = totals.model_copy(
            update={"files_done": min(files, totals.files_total), "bytes_done": min(size, totals.bytes_total)}
        )
        store.record_progress(account_id, download_id, progress)

    sink = MultipartSink(s3, bucket, key, upload_id)
    progress = ThrottledProgress(report)
    try:
        # Recorded so that DELETE and the failure step can abort it; fails if deleted meanwhile.
        store.update_download(
            account_id, download_id, expect=[DownloadState.PACKAGING], archive_key=key, upload_id=upload_id
        )
        write_archive(plan, read_member, sink, progress)
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": sink.close()}
        )
    except BaseException:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    progress.flush()
    for target in packed:
        target.state = TargetState.PACKED
    store.put_targets(download, packed)
    return {"account_id": account_id, "download_id": download_id, "size": plan.size}


def complete(account_id: str, download_id: str, size: int, store: Store) -> dict[str, Any]:
    """Mark the download complete, but only if S3 holds exactly the planned archive."""
    download = store.get_download(account_id, download_id)
    head = aws.s3().head_object(Bucket=settings().archives_bucket, Key=download.archive_key or "")
    if head["ContentLength"] != size:
        raise PackagingError("archive_size_mismatch", f"archive holds {head['ContentLength']} bytes, the plan {size}")
    now = utcnow()
    store.update_download(
        account_id,
        download_id,
        expect=[DownloadState.PACKAGING],
        state=DownloadState.COMPLETE,
        size=size,
        completed_at=now,
        expires_at=now + timedelta(days=settings().archive_expiry_days),
        upload_id=None,
    )
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
