"""Faults injected in-process into the local stack, which runs the ASL file as deployed
(moto's executing state machine, Lambda tasks invoked in this process): a transient fault
in any step is retried and the download ends complete; a failure step that fails once
still records the failure; an execution that dies between steps, a DELETE that stops
halfway and an upload whose file vanished all end — with nothing left in S3. (Two
deliveries of one upload event at once: tests/integration/test_feeds.py, which can
order them.)"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ConnectionClosedError

from carton.downloads import service as downloads
from carton.downloads.sweeper import DELETE_INTERRUPTED_AFTER, sweep
from carton.packaging import steps as workflow
from carton.shared import aws, config
from carton.shared.fields import utcnow
from carton.storage.schema import UPLOADS_PREFIX
from carton.store import Store
from carton_local.hardening import soften
from carton_local.stack import LocalStack
from tests.e2e.conftest import Api, wait_until_finished


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    saved = dict(os.environ)
    local = LocalStack(port=0, home=None).start()
    try:
        yield local
    finally:
        local.stop()
        soften()
        os.environ.clear()
        os.environ.update(saved)
        config.settings.cache_clear()
        aws.reset()


@pytest.fixture
def api(stack: LocalStack) -> Api:
    return Api(stack.url, stack.token, stack.demo_asset_ids)


def conflict() -> ClientError:
    """What DynamoDB answers a transaction that met another on the same item (after the
    store's own retries gave up)."""
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "TransactWriteItems",
    )


def failing_first(original: Callable[..., Any], error: Callable[[], Exception], times: int = 1) -> Callable[..., Any]:
    """`original`, raising `error()` on its first `times` calls (from any thread)."""
    lock, calls = threading.Lock(), [0]

    def call(*args: Any, **kwargs: Any) -> Any:
        with lock:
            calls[0] += 1
            failing = calls[0] <= times
        if failing:
            raise error()
        return original(*args, **kwargs)

    call.calls = calls  # type: ignore[attr-defined]
    return call


def create(api: Api, asset_ids: list[str] | None = None) -> str:
    reply = api.call("POST", "/api/v1/downloads", {"asset_ids": asset_ids or api.asset_ids[:3]})
    assert reply.status == 201, reply.body
    return str(reply.json()["id"])


def leftovers(stack: LocalStack, download_id: str) -> dict[str, list[str]]:
    """What the download still has in the archives bucket besides a complete archive."""
    assert stack.resources is not None
    s3, bucket = aws.s3(), stack.resources.buckets["archives"]
    objects = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []) if download_id in o["Key"]]
    uploads = [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) if download_id in u["Key"]]
    return {"objects": objects, "uploads": uploads}


def assert_complete_and_tidy(api: Api, stack: LocalStack, download_id: str) -> None:
    download = wait_until_finished(api, download_id, timeout=90)
    assert download["state"] == "complete", download.get("error")
    left = leftovers(stack, download_id)
    assert left["uploads"] == [] and [key for key in left["objects"] if "plans/" in key] == []
    assert len(left["objects"]) == 1  # the archive
    fetched = api.call("GET", f"/api/v1/downloads/{download_id}/file")
    assert fetched.status in (302, 303, 307), fetched.body


@pytest.mark.parametrize("step", ["prepare", "pack", "complete"])
def test_a_transaction_conflict_in_a_step_is_retried_and_the_download_completes(
    api: Api, stack: LocalStack, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    original = getattr(workflow, step)
    injected = failing_first(original, conflict)
    monkeypatch.setattr(workflow, step, injected)
    download_id = create(api)
    assert_complete_and_tidy(api, stack, download_id)
    assert injected.calls[0] >= 2  # type: ignore[attr-defined]


def test_complete_failing_after_s3_assembled_the_archive_reruns_and_completes(
    api: Api, stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worst moment: the upload is completed, then recording it meets a conflict."""
    store_update = Store.update_download

    def update(self: Store, *args: Any, **changes: Any) -> Any:
        if changes.get("state") == "complete" and not update.failed:  # type: ignore[attr-defined]
            update.failed = True  # type: ignore[attr-defined]
            raise conflict()
        return store_update(self, *args, **changes)

    update.failed = False  # type: ignore[attr-defined]
    monkeypatch.setattr(Store, "update_download", update)
    download_id = create(api)
    assert_complete_and_tidy(api, stack, download_id)
    assert update.failed  # type: ignore[attr-defined]


def test_a_connection_reset_while_packing_a_part_is_retried(
    api: Api, stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    injected = failing_first(
        workflow.pack_parts, lambda: ConnectionClosedError(endpoint_url="http://127.0.0.1/archives"), times=2
    )
    monkeypatch.setattr(workflow, "pack_parts", injected)
    download_id = create(api)
    assert_complete_and_tidy(api, stack, download_id)


def test_the_failure_step_failing_once_still_records_the_failure(
    api: Api, stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source removed behind Carton's back fails the download (on_missing=fail);
    recording that failure meets a conflict first, and is retried."""
    data = f"soon gone {time.time()}".encode()
    imported = api.call(
        "POST",
        "/api/v1/assets",
        {"art": base64.b64encode(data).decode(), "content_type": "text/plain", "filename": "gone.txt"},
    )
    assert imported.status == 201, imported.body
    asset = Store().get_asset("demo", imported.json()["key"])
    assert asset is not None and stack.resources is not None
    aws.s3().delete_object(Bucket=stack.resources.buckets["assets"], Key=asset.s3_key)
    monkeypatch.setattr(workflow, "fail", failing_first(workflow.fail, conflict))
    reply = api.call(
        "POST", "/api/v1/downloads", {"asset_ids": [asset.asset_id, *api.asset_ids[:1]], "on_missing": "fail"}
    )
    assert reply.status == 201, reply.body
    download = wait_until_finished(api, str(reply.json()["id"]), timeout=90)
    assert download["state"] == "failed"
    assert download["error"]["code"] == "source_missing"
    assert leftovers(stack, download["id"]) == {"objects": [], "uploads": []}


def test_an_execution_that_dies_between_steps_fails_its_download_and_leaves_nothing(
    api: Api, stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Step Functions stops the execution right after Prepare (an operator, a quota, an
    outage): the watcher of ended executions fails the download and cleans up."""
    prepare = workflow.prepare

    def prepare_then_die(account_id: str, download_id: str, store: Store) -> Any:
        result = prepare(account_id, download_id, store)
        aws.stepfunctions().stop_execution(
            executionArn=downloads.execution_arn(download_id), error="States.Runtime", cause="died"
        )
        return result

    monkeypatch.setattr(workflow, "prepare", prepare_then_die)
    download_id = create(api)
    download = wait_until_finished(api, download_id, timeout=90)
    assert download["state"] == "failed" and download["error"]["code"] == "interrupted"
    deadline = time.monotonic() + 30
    while leftovers(stack, download_id) != {"objects": [], "uploads": []}:
        assert time.monotonic() < deadline, leftovers(stack, download_id)
        time.sleep(0.5)


def test_a_delete_meeting_a_conflict_answers_503_and_a_retry_or_the_sweeper_finishes_it(
    api: Api, stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = create(api), create(api)
    for download_id in (first, second):
        assert wait_until_finished(api, download_id, timeout=90)["state"] == "complete"
    monkeypatch.setattr(Store, "delete_download", failing_first(Store.delete_download, conflict, times=2))
    for download_id in (first, second):
        reply = api.call("DELETE", f"/api/v1/downloads/{download_id}")
        assert reply.status == 503 and reply.headers.get("retry-after"), reply.body
        assert set(json.loads(reply.body)) == {"message", "errors"}
    assert api.call("DELETE", f"/api/v1/downloads/{first}").status == 204  # the client's retry
    later = utcnow() + DELETE_INTERRUPTED_AFTER + timedelta(seconds=5)
    assert sweep(Store(), later).get("deleted") == 1  # the client never came back for the second
    for download_id in (first, second):
        assert api.call("GET", f"/api/v1/downloads/{download_id}").status == 404
        assert leftovers(stack, download_id) == {"objects": [], "uploads": []}


def _upload_ticket(api: Api, data: bytes, filename: str) -> dict[str, Any]:
    reply = api.call(
        "POST", "/api/v1/assets/uploads", {"filename": filename, "content_type": "text/plain", "size": len(data)}
    )
    assert reply.status == 201, reply.body
    ticket: dict[str, Any] = reply.json()
    return ticket


def _settled(api: Api, upload_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while (upload := api.call("GET", f"/api/v1/assets/uploads/{upload_id}").json())["state"] == "pending":
        assert time.monotonic() < deadline, upload
        time.sleep(0.3)
    found: dict[str, Any] = upload
    return found


def _s3_event(stack: LocalStack, key: str, size: int) -> dict[str, Any]:
    assert stack.resources is not None
    bucket = stack.resources.buckets["assets"]
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventName": "ObjectCreated:Post",
        "s3": {"bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}, "object": {"key": key, "size": size}},
    }
    return {"Records": [record]}


def test_an_upload_whose_object_vanished_before_ingest_is_rejected_with_the_reason(api: Api, stack: LocalStack) -> None:
    data = b"vanishing upload\n"
    ticket = _upload_ticket(api, data, "vanished.txt")
    key = ticket["upload_fields"]["key"]
    assert key.startswith(UPLOADS_PREFIX)
    assert stack.resources is not None
    boto3.client("sqs").send_message(
        QueueUrl=stack.resources.queues["uploads"], MessageBody=json.dumps(_s3_event(stack, key, len(data)))
    )
    upload = _settled(api, ticket["id"])
    assert upload["state"] == "rejected" and upload["reason"]
