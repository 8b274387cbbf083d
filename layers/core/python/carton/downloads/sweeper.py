"""No download without an end: the sweeper (on a schedule) finds downloads that are still
pending, packaging or being deleted long after they should have moved on, and finishes
them — resumed when their workflow never started, failed with a code and a sentence when
it ended without them or stalled, deleted when a DELETE stopped halfway.

It reads the sparse activity index (carton.storage.schema.BY_ACTIVITY_INDEX), which holds only
such downloads, ordered by when each last changed: a sweep reads nothing else.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from botocore.exceptions import ClientError

from carton.downloads.items import ACTIVE_STATES
from carton.downloads.models import Download, DownloadState
from carton.downloads.service import execution_arn, finish_delete, start_workflow, stop_workflow
from carton.packaging.steps import fail
from carton.shared import aws
from carton.shared.errors import NotFound, error_code
from carton.shared.fields import utcnow
from carton.shared.observability import logger, measure
from carton.storage.schema import ACTIVITY_SHARDS, STALLED_AFTER_SECONDS
from carton.store import Store

# A download is created, then its execution started, by one API call (29 s at most), and
# a DELETE runs as long: past these, what they left unfinished is the sweeper's.
NOT_STARTED_AFTER = timedelta(minutes=2)
DELETE_INTERRUPTED_AFTER = timedelta(minutes=2)
STALLED_AFTER = timedelta(seconds=STALLED_AFTER_SECONDS)
# The errors the failure step records for what the sweeper found (workflow._FAILURES).
STALLED = "Sweeper.Stalled"
LOST = "Sweeper.Lost"


def sweep(store: Store, now: datetime | None = None) -> dict[str, int]:
    """One pass over every shard; returns how many downloads had each outcome."""
    now = now or utcnow()
    outcomes: Counter[str] = Counter()
    quiet_since = now - min(NOT_STARTED_AFTER, DELETE_INTERRUPTED_AFTER, STALLED_AFTER)
    for shard in range(ACTIVITY_SHARDS):
        for account_id, download_id in store.active_downloads(shard, quiet_since):
            try:
                outcome = sweep_one(store, account_id, download_id, now)
            except Exception:  # one download's trouble must not stop the sweep; the next pass retries
                logger.exception("sweeping a download failed", account_id=account_id, download_id=download_id)
                outcome = "error"
            outcomes[outcome] += 1
            if outcome not in ("busy", "ended", "gone"):
                logger.info("swept", account_id=account_id, download_id=download_id, outcome=outcome)
                measure("DownloadsSwept", outcome=outcome)
    return dict(outcomes)


def sweep_one(store: Store, account_id: str, download_id: str, now: datetime) -> str:
    """What the sweeper does with one download; the outcome's name."""
    try:
        download = store.get_download(account_id, download_id)  # the index may lag: read it again
    except NotFound:
        return "gone"
    quiet = now - download.updated_at
    if download.deleting_since is not None:
        if quiet < DELETE_INTERRUPTED_AFTER:
            return "busy"
        finish_delete(download, store)
        return "deleted"
    if download.state not in ACTIVE_STATES:
        return "ended"
    status = _execution_status(download_id)
    if status is None:
        if quiet < NOT_STARTED_AFTER:
            return "busy"
        if download.state is DownloadState.PENDING:
            return _resume(download, store)
        fail(account_id, download_id, {"Error": LOST}, store)
        return "failed"
    if status == "RUNNING":
        if quiet < STALLED_AFTER:
            return "busy"
        stop_workflow(download_id, error=STALLED, cause=f"no progress for {STALLED_AFTER_SECONDS} s")
        fail(account_id, download_id, {"Error": STALLED}, store)
        return "stalled"
    # The execution ended and the download did not: the failure step and the watcher of
    # ended executions both missed it.
    fail(account_id, download_id, {"Error": f"Execution.{status}"}, store)
    return "failed"


def _execution_status(download_id: str) -> str | None:
    """The status of the download's execution, or None when it was never started."""
    try:
        return str(aws.stepfunctions().describe_execution(executionArn=execution_arn(download_id))["status"])
    except ClientError as error:
        if error_code(error) == "ExecutionDoesNotExist":
            return None
        raise


def _resume(download: Download, store: Store) -> str:
    """A download whose create stopped between its record and its execution: started now
    (start_workflow fails it, with a reason, if Step Functions still refuses)."""
    try:
        start_workflow(download, store)
    except ClientError as error:
        logger.warning("could not resume a download", download_id=download.download_id, error=error_code(error))
        return "failed"
    return "resumed"
