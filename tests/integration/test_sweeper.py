"""No download without an end: the sweeper finds downloads left pending, packaging or
half-deleted (the activity index) and resumes, fails or finishes deleting them."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from carton.accounts.keys import principal_from_context
from carton.accounts.models import Principal
from carton.downloads.api import CreateDownloadRequest
from carton.downloads.models import Download, DownloadState
from carton.downloads.service import delete_download, execution_arn
from carton.downloads.sweeper import NOT_STARTED_AFTER, STALLED_AFTER, sweep
from carton.shared import aws
from carton.shared.errors import Conflict, NotFound
from carton.storage.schema import ACTIVITY_SHARDS
from carton.store import Store
from tests.integration.conftest import Carton, load_event
from tests.integration.test_delete_cleanup import leftovers
from tests.integration.test_workflow import new_download, run_workflow, step


def principal() -> Principal:
    return principal_from_context(load_event("api/create_download")["requestContext"]["authorizer"])


def later(carton: Carton, download_id: str, by: timedelta) -> datetime:
    return carton.store.get_download("demo", download_id).updated_at + by


def watched(store: Store) -> set[str]:
    far = datetime.now().astimezone() + timedelta(days=1)
    return {download for shard in range(ACTIVITY_SHARDS) for _, download in store.active_downloads(shard, far)}


def status(download_id: str) -> str:
    return str(aws.stepfunctions().describe_execution(executionArn=execution_arn(download_id))["status"])


def test_only_unfinished_and_half_deleted_downloads_are_watched(carton: Carton) -> None:
    running = new_download(carton, ["demo-logo"])
    finished = new_download(carton, ["demo-readme"])
    run_workflow(carton, finished)
    assert watched(carton.store) == {running}
    assert sweep(carton.store) == {}  # nothing is old enough yet


def test_a_download_whose_workflow_never_started_is_started(carton: Carton) -> None:
    """The create call stopped between the record and StartExecution."""
    download = Download(
        account_id="demo",
        download_id="d-never-started",
        created_by="admin",
        created_by_email="admin@demo.local",
        name="never started",
        zip_filename="never started.zip",
        layout=CreateDownloadRequest(asset_ids=["demo-logo"]).layout,
        download_type="default",
        asset_ids=["demo-logo"],
    )
    carton.store.create_download(download)
    assert sweep(carton.store, later(carton, download.download_id, NOT_STARTED_AFTER / 2)) == {}
    assert sweep(carton.store, later(carton, download.download_id, NOT_STARTED_AFTER * 2)) == {"resumed": 1}
    assert status(download.download_id) == "RUNNING"
    run_workflow(carton, download.download_id)
    assert carton.store.get_download("demo", download.download_id).state is DownloadState.COMPLETE
    assert watched(carton.store) == set()


def test_a_stalled_download_is_stopped_failed_and_cleaned_up(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-logo", "demo-photo"])
    step(carton, "prepare", {"download_id": download_id})  # then nothing moves
    assert sweep(carton.store, later(carton, download_id, STALLED_AFTER / 2)) == {"busy": 1}
    assert sweep(carton.store, later(carton, download_id, STALLED_AFTER * 1.1)) == {"stalled": 1}
    download = carton.store.get_download("demo", download_id)
    assert download.state is DownloadState.FAILED and download.error is not None
    assert download.error.code == "stalled" and "no progress" in download.error.message
    assert status(download_id) == "ABORTED"
    assert leftovers(carton) == {"objects": [], "uploads": []}
    assert watched(carton.store) == set()


def test_a_download_whose_execution_ended_without_it_is_failed(carton: Carton) -> None:
    """Neither the failure step nor the watcher of ended executions got to it."""
    download_id = new_download(carton, ["demo-logo"])
    step(carton, "prepare", {"download_id": download_id})
    aws.stepfunctions().stop_execution(executionArn=execution_arn(download_id), error="Lost", cause="test")
    assert sweep(carton.store, later(carton, download_id, NOT_STARTED_AFTER * 2)) == {"failed": 1}
    download = carton.store.get_download("demo", download_id)
    assert download.state is DownloadState.FAILED and download.error and download.error.code == "interrupted"
    assert leftovers(carton) == {"objects": [], "uploads": []}


@pytest.mark.parametrize("packaged", [False, True])
def test_a_delete_interrupted_after_its_mark_is_finished_by_the_sweeper(carton: Carton, packaged: bool) -> None:
    download_id = new_download(carton, ["demo-logo", "demo-photo"])
    if packaged:
        run_workflow(carton, download_id)
    else:
        step(carton, "prepare", {"download_id": download_id})
    before = carton.store.counters("demo")
    carton.store.mark_deleting(carton.store.get_download("demo", download_id))  # then the DELETE died
    with pytest.raises(Conflict):  # no step changes a download being deleted
        carton.store.update_download("demo", download_id, expect=list(DownloadState), state=DownloadState.FAILED)
    assert watched(carton.store) == {download_id}
    assert sweep(carton.store, later(carton, download_id, NOT_STARTED_AFTER * 2)) == {"deleted": 1}
    with pytest.raises(NotFound):
        carton.store.get_download("demo", download_id)
    assert carton.store.targets("demo", download_id) == []
    assert leftovers(carton) == {"objects": [], "uploads": []}
    after = carton.store.counters("demo")
    assert after.get("all", 0) == before["all"] - 1
    assert watched(carton.store) == set()


def test_a_delete_run_again_after_an_interruption_finishes_the_job(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-logo"])
    step(carton, "prepare", {"download_id": download_id})
    carton.store.mark_deleting(carton.store.get_download("demo", download_id))
    delete_download(principal(), download_id, carton.store)
    with pytest.raises(NotFound):
        carton.store.get_download("demo", download_id)
    assert leftovers(carton) == {"objects": [], "uploads": []}


def test_the_scheduled_event_runs_a_sweep(carton: Carton) -> None:
    new_download(carton, ["demo-logo"])  # fresh: nothing for the sweeper yet
    assert carton.invoke("sweep_downloads", load_event("schedule/sweep")) == {}
