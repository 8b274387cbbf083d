"""The packaging workflow's steps: prepare → package → complete, and fail.

Each step is one Lambda invoked by the state machine (infra/workflow.asl.json) with
{"account_id", "download_id"} and returns what the next step needs.
"""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import ClientError

from carton.downloads.models import Download, DownloadState, Progress, TargetState
from carton.packaging.assembly import assemble
from carton.packaging.failures import error_from
from carton.packaging.formats import format_of
from carton.packaging.leftovers import archive_key_of, remove_leftovers
from carton.packaging.members import archive_plan, deriver, plan_targets, skipped_target, unreadable_sources
from carton.packaging.multipart import abort_earlier_attempt, check_archive, uploaded_parts
from carton.packaging.workers import PlanDocument, decode, document_of, encode, pack_parts
from carton.shared import aws
from carton.shared.config import settings
from carton.shared.errors import MISSING, Conflict, NotFound, PackagingError, error_code
from carton.shared.fields import utcnow
from carton.shared.observability import MetricUnit, logger, measure
from carton.storage.objects import plan_key
from carton.storage.schema import ARCHIVE_EXPIRY_TAG, ENDED_BADLY
from carton.store import Store


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
        abort_earlier_attempt(download, store)
    targets = plan_targets(download, store.get_assets(account_id, download.asset_ids), deriver(store))
    unreadable = unreadable_sources(targets)
    if unreadable and download.options.on_missing == "fail":
        first = next(iter(unreadable.items()))
        raise PackagingError("source_missing", f"{len(unreadable)} file(s) unreadable, e.g. {first[0]}: {first[1]}")
    targets = [
        skipped_target(download, t.asset_id, t.position, unreadable[t.asset_id], t.rendition)
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
    life = download.options.expires_in_days
    # Its own life: a lifecycle rule of the archives bucket removes it then.
    tagging = {"Tagging": urlencode({ARCHIVE_EXPIRY_TAG: life})} if life else {}
    upload_id = s3.create_multipart_upload(
        Bucket=bucket,
        Key=key,
        ContentType=format_of(download).content_type,
        ChecksumAlgorithm="CRC32",
        ChecksumType="FULL_OBJECT",
        **tagging,  # type: ignore[arg-type]
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
    uploaded = uploaded_parts(document)
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
    created = check_archive(document, crc)
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
            # S3's lifecycle counts from the object's creation (for a multipart upload, maybe
            # when it was opened), rounded up to midnight: the earlier time never over-promises.
            expires_at=min(now, created)
            + timedelta(days=download.options.expires_in_days or settings().archive_expiry_days),
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
    error = error_from(failure)
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
