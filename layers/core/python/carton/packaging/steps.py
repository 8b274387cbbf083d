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

from carton.assets.renditions import CannotDerive, derived_for
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
from carton.packaging.archive import ZIP32_LIMIT, ArchivePlan, Member, plan_archive, safe_entry_name, unique_names
from carton.packaging.assembly import Source, assemble
from carton.packaging.leftovers import abort, archive_key_of, open_uploads_under, remove_leftovers
from carton.packaging.workers import (
    PlanDocument,
    decode,
    document_of,
    encode,
    pack_parts,
    source_forbidden,
)
from carton.shared import aws
from carton.shared.config import settings
from carton.shared.errors import CHANGED, FORBIDDEN, MISSING, Conflict, NotFound, PackagingError, error_code
from carton.shared.media import media_group
from carton.shared.observability import MetricUnit, logger, measure
from carton.storage.schema import ARCHIVES_PREFIX, ENDED_BADLY, STALLED_AFTER_SECONDS, plan_key
from carton.storage.store import Store

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


def _unreadable(targets: list[Target]) -> dict[str, str]:
    """Sources that are gone or changed since ingest, by asset id, with the reason.

    A 404 is a missing file (skipped or fatal as the download says); a 403 is never read
    as missing: Carton may not read its own bucket, and the download fails saying so.
    """
    s3, bucket = aws.s3(), settings().assets_bucket

    def check(target: Target) -> tuple[str, str | None]:
        try:
            s3.head_object(Bucket=bucket, Key=target.source_key or "", IfMatch=target.source_etag or "")
        except ClientError as error:
            code = error_code(error)
            if code in MISSING:
                return target.asset_id, "the stored file no longer exists"
            if code in CHANGED:
                return target.asset_id, "the stored file changed after it was ingested"
            if code in FORBIDDEN:
                raise source_forbidden(f"asset {target.asset_id}") from error
            raise
        return target.asset_id, None

    with ThreadPoolExecutor(max_workers=_SOURCE_CHECKS) as pool:
        found = pool.map(check, [t for t in targets if t.state is TargetState.PLANNED])
        return {asset_id: reason for asset_id, reason in found if reason is not None}


def _deriver(store: Store) -> Derive:
    """derived_for, with a source that cannot be read sorted like every other read: missing
    or changed → the original is packed instead (and checked like any other source);
    forbidden → the download fails."""

    def derive(asset: Asset, spec: RenditionSpec) -> Derived:
        try:
            return derived_for(asset, spec, store)
        except ClientError as error:
            code = error_code(error)
            if code in MISSING or code in CHANGED:
                raise CannotDerive("the stored file could not be read") from error
            if code in FORBIDDEN:
                raise source_forbidden(f"asset {asset.asset_id}") from error
            raise

    return derive


def _open_uploads(bucket: str, key: str) -> list[str]:
    """Every unfinished multipart upload of `key` (s3:ListBucketMultipartUploads)."""
    return [upload_id for found, upload_id in open_uploads_under(bucket, key) if found == key]


def _abort_earlier_attempt(download: Download, store: Store) -> None:
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


def _begin(account_id: str, download_id: str, store: Store) -> tuple[Download, bool]:
    """Pending → packaging; or packaging already, when an earlier attempt timed out.
    Returns the download and whether this is such a rerun. Anything else (deleted,
    failed, complete) raises Conflict: the workflow has nothing left to do."""
    before: DownloadState | None = None
    with contextlib.suppress(NotFound):  # update_download says Conflict for that
        before = store.get_download(account_id, download_id).state
    download = store.update_download(
        account_id,
        download_id,
        expect=[DownloadState.PENDING, DownloadState.PACKAGING],
        state=DownloadState.PACKAGING,
    )
    return download, before is DownloadState.PACKAGING


def prepare(account_id: str, download_id: str, store: Store) -> dict[str, Any]:
    """Resolve assets and renditions, check every source, plan the archive and its parts,
    open the multipart upload. Returns the groups of parts for the workers.

    Safe to run again after a timeout: the rerun aborts the upload the earlier attempt
    opened (recorded or not) and plans afresh; targets and the plan object are overwritten.
    """
    download, rerun = _begin(account_id, download_id, store)
    if rerun:
        _abort_earlier_attempt(download, store)
    targets = plan_targets(download, store.get_assets(account_id, download.asset_ids), _deriver(store))
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
    key = archive_key_of(download)
    upload_id = s3.create_multipart_upload(
        Bucket=bucket, Key=key, ContentType="application/zip", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
    )["UploadId"]
    try:
        # Recorded at once, so that DELETE, the failure step and a rerun can abort it
        # (a rerun also finds it by listing); fails if the download was deleted meanwhile.
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
        document = document_of(parts, key, upload_id, sources, counted)
        s3.put_object(Bucket=bucket, Key=plan_key(account_id, download_id), Body=encode(document))
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


def _uploaded_parts(document: PlanDocument) -> list[Any] | None:
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


def _check_archive(document: PlanDocument, crc: str) -> None:
    """The archive S3 holds is exactly the planned one (size, and the FULL_OBJECT CRC-32
    where S3 reports it); one that is not is removed, so no wrong archive outlives the
    failure."""
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


def complete(account_id: str, download_id: str, store: Store) -> dict[str, Any]:
    """Finish the upload and mark the download complete, but only if S3 holds exactly the
    planned archive: every part, the planned size, and (where S3 reports it) the CRC-32.

    Safe to run again after a timeout: an upload completed by an earlier attempt (S3 then
    answers NoSuchUpload) is checked as the archive it made, and a download marked
    complete already answers as the first run would have.
    """
    s3, bucket = aws.s3(), settings().archives_bucket
    done = {"account_id": account_id, "download_id": download_id, "state": DownloadState.COMPLETE.value}
    download = store.get_download(account_id, download_id)
    if download.state is DownloadState.COMPLETE:
        s3.delete_object(Bucket=bucket, Key=plan_key(account_id, download_id))  # if the first run stopped short
        return done
    if download.state is not DownloadState.PACKAGING:
        raise Conflict(f"Download {download_id} is not packaging", {"state": ["expected packaging"]})
    try:
        plan = s3.get_object(Bucket=bucket, Key=plan_key(account_id, download_id))["Body"].read()
    except ClientError as error:
        if error_code(error) in MISSING:
            raise PackagingError("plan_missing", "the archive plan is gone (the download was deleted?)") from error
        raise
    document = decode(plan)
    crc = base64.b64encode(document.crc32.to_bytes(4, "big")).decode()
    uploaded = _uploaded_parts(document)
    if uploaded is not None:
        sizes = {part["PartNumber"]: part["Size"] for part in uploaded}
        missing = [part.number for part in document.parts if sizes.get(part.number) != part.size]
        if missing:
            raise PackagingError(
                "parts_missing", f"{len(missing)} part(s) missing or of the wrong size, e.g. {missing[0]}"
            )
        try:
            s3.complete_multipart_upload(
                Bucket=bucket,
                Key=document.archive_key,
                UploadId=document.upload_id,
                MultipartUpload={
                    "Parts": sorted(
                        ({"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in uploaded),
                        key=lambda p: p["PartNumber"],
                    )
                },
                ChecksumCRC32=crc,
                ChecksumType="FULL_OBJECT",
            )
        except ClientError as error:
            if error_code(error) != "NoSuchUpload":  # else completed meanwhile: the archive is checked below
                raise
    _check_archive(document, crc)
    targets = store.targets(account_id, download_id)
    # Writes each target whole: running it twice writes the same items.
    store.put_targets(
        download,
        [t.model_copy(update={"state": TargetState.PACKED}) if t.state is TargetState.PLANNED else t for t in targets],
    )
    now = utcnow()
    totals = download.progress
    try:
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
        measure("DownloadsCompleted")
        measure("BytesPackaged", document.size, MetricUnit.Bytes)
        measure("PackagingSeconds", (now - download.created_at).total_seconds(), MetricUnit.Seconds)
        measure("FilesSkipped", totals.files_skipped)
    except Conflict:
        try:
            current = store.get_download(account_id, download_id)
        except NotFound:
            # Deleted while this step assembled it: what it made goes too, nothing is orphaned.
            s3.delete_object(Bucket=bucket, Key=document.archive_key)
            s3.delete_object(Bucket=bucket, Key=plan_key(account_id, download_id))
            return {"account_id": account_id, "download_id": download_id, "state": "deleted"}
        if current.state is not DownloadState.COMPLETE:
            raise
    s3.delete_object(Bucket=bucket, Key=plan_key(account_id, download_id))  # no error if gone already
    return done


# What a failure the state machine caught means for the client: a stable code and a
# sentence for people. Only Carton's own PackagingErrors carry their message through;
# anything else (a crash, a timeout, the service) is named, and its text stays in the logs.
_FAILURES: dict[str, tuple[str, str]] = {
    "States.Timeout": ("timeout", "a packaging step ran out of time; creating the download again usually works"),
    "Sandbox.Timedout": ("timeout", "a packaging step ran out of time; creating the download again usually works"),
    # An execution that ended without reaching RecordFailure (see execution_ended).
    "Execution.FAILED": ("internal_error", "packaging failed inside Carton; the operators have the details"),
    "Execution.TIMED_OUT": ("timeout", "packaging ran out of time; creating the download again usually works"),
    "Execution.ABORTED": ("interrupted", "packaging was stopped before it finished; create the download again"),
    # An execution that succeeded without completing its download (its last update was lost).
    "Execution.SUCCEEDED": ("internal_error", "packaging failed inside Carton; the operators have the details"),
    # Found by the sweeper (carton.downloads.sweeper).
    "Sweeper.Stalled": (
        "stalled",
        f"packaging made no progress for {STALLED_AFTER_SECONDS // 60} minutes and was stopped; "
        "create the download again",
    ),
    "Sweeper.Lost": ("interrupted", "packaging lost track of this download; create the download again"),
    "StorageUnavailable": ("storage_unavailable", "S3 could not be reached for too long; try again in a few minutes"),
    "StorageThrottled": (
        "storage_busy",
        "S3 throttled Carton's requests for too long; try again in a few minutes",
    ),
    "States.TaskFailed": ("internal_error", "packaging failed inside Carton; the operators have the details"),
}
_LAMBDA_UNAVAILABLE = ("service_unavailable", "the packaging service was unavailable; try again in a few minutes")
_INTERNAL = ("internal_error", "packaging failed inside Carton; the operators have the details")


def _error_from(failure: dict[str, Any]) -> DownloadError:
    """The error the state machine caught ({"Error": type, "Cause": Lambda's JSON}), as
    the client may see it."""
    kind = str(failure.get("Error") or "error")
    cause = str(failure.get("Cause") or "")
    message = cause
    with contextlib.suppress(ValueError, AttributeError):  # a Cause that is not Lambda's JSON
        message = str(json.loads(cause).get("errorMessage") or cause)
    if kind == PackagingError.__name__ and (coded := _CODED_MESSAGE.match(message)):
        return DownloadError(code=coded.group(1), message=coded.group(2)[:1000])
    if kind in _FAILURES:
        code, sentence = _FAILURES[kind]
    else:
        code, sentence = _LAMBDA_UNAVAILABLE if kind.startswith("Lambda.") else _INTERNAL
    # Carton's own fault pages someone (an error in the logs); a stop, a timeout or the
    # service's hiccup is worth knowing but expected now and then.
    log = logger.error if code == _INTERNAL[0] else logger.warning
    log("download failed", error_type=kind, cause=cause[:4000], code=code)
    return DownloadError(code=code, message=sentence)


def fail(account_id: str, download_id: str, failure: dict[str, Any], store: Store) -> dict[str, Any]:
    """Record the failure on the download and remove what packaging left: the upload
    (recorded or not), the plan, and an archive that a failed `complete` assembled."""
    try:
        download = store.get_download(account_id, download_id)
    except NotFound:
        # Deleted while packaging: a step that ran on after DELETE may have opened an upload
        # or written the plan since; neither may outlive the download.
        remove_leftovers(account_id, download_id)
        return {"account_id": account_id, "download_id": download_id, "state": "gone"}
    unfinished = download.state in (DownloadState.PENDING, DownloadState.PACKAGING)
    key = archive_key_of(download)
    remove_leftovers(
        account_id,
        download_id,
        upload=(key, download.upload_id) if download.upload_id else None,
        archive_key=key if unfinished else None,
    )
    if not unfinished:  # ended already (a failed notification, a second report): nothing to mark
        return {"account_id": account_id, "download_id": download_id, "state": download.state.value}
    error = _error_from(failure)
    try:
        store.fail_download(account_id, download_id, error)
    except Conflict:  # deleted or finished meanwhile: nothing left to mark
        pass
    else:
        measure("DownloadsFailed")
        measure("DownloadsFailed", code=error.code)
    return {
        "account_id": account_id,
        "download_id": download_id,
        "state": DownloadState.FAILED.value,
        "error": error.model_dump(),
    }


def execution_ended(detail: dict[str, Any], store: Store) -> dict[str, Any] | None:
    """An execution ended (EventBridge's "Step Functions Execution Status Change"). If it
    ended badly, its download must not stay pending or packaging, whatever happened to
    the workflow's own failure step (it failed itself, or the execution was stopped or
    timed out): fail it here, idempotently — a download already failed, complete or
    deleted is left as it is, and what a deleted one left behind is removed."""
    if detail.get("status") not in ENDED_BADLY:
        return None
    try:
        started = json.loads(detail.get("input") or "{}")
        account_id, download_id = str(started["account_id"]), str(started["download_id"])
    except (ValueError, KeyError, TypeError):
        logger.warning("an execution without a download ended", execution=detail.get("executionArn"))
        return None
    with contextlib.suppress(NotFound):  # a deleted download: fail() below sweeps what it left
        if store.get_download(account_id, download_id).state not in (DownloadState.PENDING, DownloadState.PACKAGING):
            return None  # the workflow ended it itself (failed, or complete): nothing to do
    return fail(account_id, download_id, {"Error": f"Execution.{detail['status']}", "Cause": ""}, store)


def archive_removed(archive_key: str, store: Store) -> None:
    """An archive left S3 (lifecycle expiry or removal): its download is expired."""
    relative = archive_key.removeprefix(ARCHIVES_PREFIX)
    parts = relative.split("/", 2)
    if not archive_key.startswith(ARCHIVES_PREFIX) or len(parts) < 3:
        return
    account_id, download_id = parts[0], parts[1]
    with contextlib.suppress(Conflict):  # not complete (deleted, or a replaced archive): nothing to expire
        store.update_download(account_id, download_id, expect=[DownloadState.COMPLETE], state=DownloadState.EXPIRED)
