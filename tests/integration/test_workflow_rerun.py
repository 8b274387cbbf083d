"""Workflow steps run again after a timeout (Step Functions retries States.Timeout on
Prepare, PackParts and Complete): a rerun finishes the job, orphans no upload and no
archive, and a step that finds the download gone or failed still stops."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from carton.downloads.models import DownloadState, TargetState
from carton.packaging.leftovers import archive_key_of
from carton.packaging.workers import decode, encode
from carton.shared import aws
from carton.storage.objects import plan_key
from carton.store import Store
from carton_local.lambdas import FunctionError
from tests.integration.conftest import Carton
from tests.integration.test_workflow import archive_of, new_download, run_workflow, step


class TimedOut(Exception):
    """Stands for Lambda stopping the function mid-step."""


def uploads(carton: Carton) -> list[str]:
    found = aws.s3().list_multipart_uploads(Bucket=carton.resources.buckets["archives"]).get("Uploads", [])
    return [upload["UploadId"] for upload in found]


def plan_exists(carton: Carton, download_id: str) -> bool:
    listed = aws.s3().list_objects_v2(Bucket=carton.resources.buckets["archives"], Prefix=plan_key("demo", download_id))
    return bool(listed["KeyCount"])


def pack_all(carton: Carton, download_id: str, state: dict[str, Any]) -> None:
    for group in state["groups"]:
        step(carton, "pack", {"download_id": download_id, **group})


def assert_complete(carton: Carton, download_id: str) -> None:
    download = carton.store.get_download("demo", download_id)
    assert download.state is DownloadState.COMPLETE and download.upload_id is None
    assert (download.progress.files_done, download.progress.bytes_done) == (
        download.progress.files_total,
        download.progress.bytes_total,
    )
    assert archive_of(carton, download_id).testzip() is None
    assert all(t.state is TargetState.PACKED for t in carton.store.targets("demo", download_id))
    assert not plan_exists(carton, download_id)
    assert not uploads(carton)


@pytest.fixture
def times_out_once(monkeypatch: pytest.MonkeyPatch) -> Any:
    """times_out_once(Store, "update_download", when=lambda kwargs: ...): that call raises
    TimedOut the first time `when` holds, and works from then on."""

    def arm(owner: Any, name: str, when: Any = lambda *args, **kwargs: True) -> None:
        original = getattr(owner, name)
        armed = [True]

        def patched(*args: Any, **kwargs: Any) -> Any:
            if armed[0] and when(*args, **kwargs):
                armed[0] = False
                raise TimedOut(name)
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, patched)

    return arm


# ---- prepare ---------------------------------------------------------------------------


def test_prepare_run_twice_aborts_the_first_upload_and_plans_the_same_groups(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-photo", "demo-readme", "demo-logo"])
    first = step(carton, "prepare", {"download_id": download_id})
    first_upload = carton.store.get_download("demo", download_id).upload_id
    again = step(carton, "prepare", {"download_id": download_id})  # the first one "timed out" at its very end
    assert again == first

    download = carton.store.get_download("demo", download_id)
    assert download.state is DownloadState.PACKAGING
    assert download.upload_id and download.upload_id != first_upload
    assert uploads(carton) == [download.upload_id]
    plan = aws.s3().get_object(Bucket=carton.resources.buckets["archives"], Key=plan_key("demo", download_id))
    document = decode(plan["Body"].read())
    assert document.upload_id == download.upload_id
    assert download.target_count == 3 and len(carton.store.targets("demo", download_id)) == 3

    pack_all(carton, download_id, again)
    assert step(carton, "complete", {"download_id": download_id})["state"] == "complete"
    assert_complete(carton, download_id)


def test_prepare_rerun_aborts_an_upload_the_first_attempt_never_recorded(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-logo"])
    # The first attempt moved the download on and opened its upload, then Lambda stopped it.
    download = carton.store.update_download(
        "demo", download_id, expect=[DownloadState.PENDING], state=DownloadState.PACKAGING
    )
    orphan = aws.s3().create_multipart_upload(
        Bucket=carton.resources.buckets["archives"], Key=archive_key_of(download)
    )["UploadId"]

    state = step(carton, "prepare", {"download_id": download_id})
    recorded = carton.store.get_download("demo", download_id).upload_id
    assert uploads(carton) == [recorded] and recorded != orphan
    pack_all(carton, download_id, state)
    step(carton, "complete", {"download_id": download_id})
    assert_complete(carton, download_id)


def test_prepare_timed_out_while_writing_the_plan_then_runs_again(carton: Carton, times_out_once: Any) -> None:
    download_id = new_download(carton, ["demo-logo", "demo-readme"])
    s3 = aws.s3()
    original_put = s3.put_object

    def put_then_die(**kwargs: Any) -> Any:
        if kwargs["Key"].startswith("plans/"):
            original_put(**kwargs)
            raise SystemExit("Lambda stopped the function")  # not even BaseException handlers help on AWS
        return original_put(**kwargs)

    # A kill runs no cleanup: make the first attempt's abort a no-op as well.
    s3.put_object = put_then_die  # type: ignore[method-assign]
    s3.abort_multipart_upload = lambda **kwargs: {}  # type: ignore[method-assign]
    try:
        with pytest.raises(SystemExit):
            step(carton, "prepare", {"download_id": download_id})
    finally:
        del s3.put_object, s3.abort_multipart_upload
    assert len(uploads(carton)) == 1 and plan_exists(carton, download_id)

    state = step(carton, "prepare", {"download_id": download_id})
    assert uploads(carton) == [carton.store.get_download("demo", download_id).upload_id]
    pack_all(carton, download_id, state)
    step(carton, "complete", {"download_id": download_id})
    assert_complete(carton, download_id)


def test_prepare_on_a_failed_download_stops_and_opens_nothing(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-logo"])
    step(carton, "fail", {"download_id": download_id, "error": {"Error": "States.Timeout", "Cause": "slow"}})
    with pytest.raises(FunctionError) as caught:
        step(carton, "prepare", {"download_id": download_id})
    assert caught.value.payload["errorType"] == "Conflict"
    assert not uploads(carton)
    assert carton.store.get_download("demo", download_id).state is DownloadState.FAILED


def test_fail_aborts_an_upload_prepare_never_recorded(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-logo"])
    download = carton.store.update_download(
        "demo", download_id, expect=[DownloadState.PENDING], state=DownloadState.PACKAGING
    )
    aws.s3().create_multipart_upload(Bucket=carton.resources.buckets["archives"], Key=archive_key_of(download))
    step(carton, "fail", {"download_id": download_id, "error": {"Error": "States.Timeout", "Cause": "slow"}})
    assert not uploads(carton)


# ---- complete --------------------------------------------------------------------------


def test_complete_run_twice_answers_the_same(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-logo", "demo-readme"])
    first = run_workflow(carton, download_id)
    assert step(carton, "complete", {"download_id": download_id}) == first
    assert_complete(carton, download_id)


@pytest.mark.parametrize("stopped_at", ["reading targets", "writing targets", "marking complete"])
def test_complete_rerun_after_s3_completed_the_upload_finishes_the_job(
    carton: Carton, times_out_once: Any, stopped_at: str
) -> None:
    download_id = new_download(carton, ["demo-photo", "demo-readme", "demo-logo"])
    pack_all(carton, download_id, step(carton, "prepare", {"download_id": download_id}))
    if stopped_at == "reading targets":
        times_out_once(Store, "targets")
    elif stopped_at == "writing targets":
        times_out_once(Store, "put_targets")
    else:
        times_out_once(Store, "update_download", lambda *args, **kwargs: kwargs.get("state") is DownloadState.COMPLETE)
    with pytest.raises(FunctionError) as caught:
        step(carton, "complete", {"download_id": download_id})
    assert caught.value.payload["errorType"] == "TimedOut"
    assert not uploads(carton)  # S3 finished the archive; the download is still packaging
    assert carton.store.get_download("demo", download_id).state is DownloadState.PACKAGING

    result = step(carton, "complete", {"download_id": download_id})  # ListParts: NoSuchUpload
    assert result == {"account_id": "demo", "download_id": download_id, "state": "complete"}
    assert_complete(carton, download_id)
    assert carton.store.get_download("demo", download_id).size == archive_of_size(carton, download_id)


def archive_of_size(carton: Carton, download_id: str) -> int:
    key = carton.store.get_download("demo", download_id).archive_key or ""
    return aws.s3().head_object(Bucket=carton.resources.buckets["archives"], Key=key)["ContentLength"]


def test_complete_rerun_after_the_download_was_marked_complete(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-logo"])
    pack_all(carton, download_id, step(carton, "prepare", {"download_id": download_id}))
    s3 = aws.s3()
    original_delete = s3.delete_object

    def die_on_plan(**kwargs: Any) -> Any:
        if kwargs["Key"].startswith("plans/"):
            raise TimedOut("delete_object")
        return original_delete(**kwargs)

    s3.delete_object = die_on_plan  # type: ignore[method-assign]
    try:
        with pytest.raises(FunctionError) as caught:
            step(carton, "complete", {"download_id": download_id})
    finally:
        del s3.delete_object
    assert caught.value.payload["errorType"] == "TimedOut"
    assert carton.store.get_download("demo", download_id).state is DownloadState.COMPLETE
    assert plan_exists(carton, download_id)

    result = step(carton, "complete", {"download_id": download_id})
    assert result == {"account_id": "demo", "download_id": download_id, "state": "complete"}
    assert_complete(carton, download_id)


def test_complete_of_an_aborted_upload_with_no_archive_says_the_upload_is_gone(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-logo"])
    step(carton, "prepare", {"download_id": download_id})
    download = carton.store.get_download("demo", download_id)
    aws.s3().abort_multipart_upload(
        Bucket=carton.resources.buckets["archives"], Key=download.archive_key or "", UploadId=download.upload_id or ""
    )
    with pytest.raises(FunctionError) as caught:
        step(carton, "complete", {"download_id": download_id})
    assert caught.value.payload["errorMessage"].startswith("upload_gone:")
    assert carton.store.get_download("demo", download_id).state is DownloadState.PACKAGING


def test_complete_of_a_failed_download_stops(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-logo"])
    pack_all(carton, download_id, step(carton, "prepare", {"download_id": download_id}))
    step(carton, "fail", {"download_id": download_id, "error": {"Error": "States.Timeout", "Cause": "slow"}})
    with pytest.raises(FunctionError) as caught:
        step(carton, "complete", {"download_id": download_id})
    assert caught.value.payload["errorType"] == "Conflict"
    assert carton.store.get_download("demo", download_id).state is DownloadState.FAILED


@pytest.mark.parametrize(("field", "code"), [("size", "archive_size_mismatch"), ("crc32", "archive_crc_mismatch")])
def test_complete_removes_an_archive_that_is_not_the_planned_one(carton: Carton, field: str, code: str) -> None:
    download_id = new_download(carton, ["demo-logo", "demo-readme"])
    pack_all(carton, download_id, step(carton, "prepare", {"download_id": download_id}))
    s3, bucket, key = aws.s3(), carton.resources.buckets["archives"], plan_key("demo", download_id)
    document = decode(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    wrong = dataclasses.replace(document, **{field: getattr(document, field) + 1})
    s3.put_object(Bucket=bucket, Key=key, Body=encode(wrong))

    with pytest.raises(FunctionError) as caught:
        step(carton, "complete", {"download_id": download_id})
    assert caught.value.payload["errorMessage"].startswith(f"{code}:")
    assert s3.list_objects_v2(Bucket=bucket, Prefix=document.archive_key)["KeyCount"] == 0
    assert not uploads(carton)

    failure = {"Error": "PackagingError", "Cause": f'{{"errorMessage": "{code}: wrong"}}'}
    step(carton, "fail", {"download_id": download_id, "error": failure})
    download = carton.store.get_download("demo", download_id)
    assert download.state is DownloadState.FAILED and download.error is not None and download.error.code == code
