"""An execution that ended badly never leaves its download pending or packaging: the
watcher (EventBridge on AWS, a poller locally) fails it, idempotently."""

from __future__ import annotations

import json

import boto3

from carton.downloads.models import DownloadState
from carton.downloads.service import execution_arn
from carton.shared import aws
from carton_local.executions import ExecutionWatcher
from tests.integration.conftest import Carton, load_event
from tests.integration.test_workflow import new_download, run_workflow, step


def ended(carton: Carton, download_id: str, status: str) -> object:
    event = load_event("workflow/execution_ended")
    event["detail"].update(status=status, input=json.dumps({"account_id": "demo", "download_id": download_id}))
    return carton.invoke("execution_ended", event)


def test_a_stopped_execution_fails_its_packaging_download_and_cleans_up(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-logo", "demo-photo"])
    step(carton, "prepare", {"download_id": download_id})  # packaging, upload open, plan written
    ended(carton, download_id, "ABORTED")
    download = carton.store.get_download("demo", download_id)
    assert download.state is DownloadState.FAILED and download.error and download.error.code == "interrupted"
    bucket = carton.resources.buckets["archives"]
    assert not aws.s3().list_multipart_uploads(Bucket=bucket).get("Uploads")
    assert not aws.s3().list_objects_v2(Bucket=bucket, Prefix="plans/").get("Contents")


def test_finished_downloads_and_successful_executions_are_left_alone(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-logo"])
    run_workflow(carton, download_id)
    assert ended(carton, download_id, "SUCCEEDED") is None
    ended(carton, download_id, "FAILED")
    assert carton.store.get_download("demo", download_id).state is DownloadState.COMPLETE
    # An execution whose input names no download is logged and ignored, not a crash.
    assert carton.invoke("execution_ended", {"detail": {"status": "FAILED", "input": "not json"}}) is None


def test_the_local_watcher_hands_each_ended_execution_over_once(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-logo"])
    stepfunctions = boto3.client("stepfunctions")
    stepfunctions.stop_execution(executionArn=execution_arn(download_id), error="Stopped", cause="test")
    watcher = ExecutionWatcher(carton.functions, carton.resources.state_machine_arn, stop=None)  # type: ignore[arg-type]
    assert watcher.sweep(stepfunctions) == 1
    assert watcher.sweep(stepfunctions) == 0
    download = carton.store.get_download("demo", download_id)
    assert download.state is DownloadState.FAILED and download.error and download.error.code == "interrupted"
