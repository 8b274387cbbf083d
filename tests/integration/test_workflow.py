"""Workflow steps invoked with Step Functions task inputs, against moto."""

import contextlib
import io
import json
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest
from botocore.awsrequest import AWSResponse
from PIL import Image

from carton.accounts.keys import principal_from_context
from carton.assets.service import store_bytes
from carton.downloads.api import CreateDownloadRequest
from carton.downloads.models import DownloadState, TargetState
from carton.downloads.service import create_download
from carton.shared import aws
from carton_local.demo import png
from carton_local.lambdas import FunctionError
from tests.integration.conftest import Carton, load_event


def new_download(carton: Carton, asset_ids: list[str], **options: object) -> str:
    context = load_event("api/create_download")["requestContext"]["authorizer"]
    request = CreateDownloadRequest.model_validate({"asset_ids": asset_ids, **options})
    return create_download(principal_from_context(context), request, carton.store).download_id


def step(carton: Carton, name: str, payload: dict) -> dict:
    event = load_event(f"workflow/{name}")
    event.update(payload)
    result: dict = carton.invoke(f"workflow_{name}", event)
    return result


def run_workflow(carton: Carton, download_id: str) -> dict:
    state = step(carton, "prepare", {"download_id": download_id})
    for group in state["groups"]:
        step(carton, "pack", {"download_id": download_id, **group})
    return step(carton, "complete", {"download_id": download_id})


@contextlib.contextmanager
def refused(operation: str, key: str, status: int = 403) -> Iterator[None]:
    """S3 answers `operation` on `key` with `status` as AWS would (a HEAD's error has no
    body, so its code is the bare status; a GET's says AccessDenied or NoSuchKey).
    Injected before the request is sent, so every thread using the client sees it."""
    codes = {403: "AccessDenied", 404: "NoSuchKey"}
    code = str(status) if operation == "HeadObject" else codes[status]

    def answer(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if unquote(params["url_path"]).rstrip("/").endswith(key):
            error = {"Error": {"Code": code, "Message": "refused"}, "ResponseMetadata": {"HTTPStatusCode": status}}
            return AWSResponse(params["url"], status, {}, None), error
        return None

    events = aws.s3().meta.events
    events.register(f"before-call.s3.{operation}", answer, unique_id=f"refuse-{operation}")
    try:
        yield
    finally:
        events.unregister(f"before-call.s3.{operation}", unique_id=f"refuse-{operation}")


def archive_of(carton: Carton, download_id: str) -> zipfile.ZipFile:
    download = carton.store.get_download("demo", download_id)
    body = aws.s3().get_object(Bucket=carton.resources.buckets["archives"], Key=download.archive_key or "")["Body"]
    return zipfile.ZipFile(io.BytesIO(body.read()))


def test_prepare_package_complete_builds_the_archive_and_records_everything(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-photo", "demo-readme", "demo-logo"], layout="folders")
    assert run_workflow(carton, download_id)["state"] == "complete"

    download = carton.store.get_download("demo", download_id)
    assert download.state is DownloadState.COMPLETE and download.upload_id is None
    assert download.completed_at and download.expires_at and download.expires_at > download.completed_at
    sources = {asset_id: carton.assets[asset_id] for asset_id in download.asset_ids}
    assert download.progress.files_total == download.progress.files_done == 3
    assert download.progress.bytes_total == download.progress.bytes_done == sum(a.size for a in sources.values())

    archive = archive_of(carton, download_id)
    assert archive.testzip() is None
    head = aws.s3().head_object(Bucket=carton.resources.buckets["archives"], Key=download.archive_key or "")
    assert download.size == head["ContentLength"]
    expected_paths = ["demo-photo/Fotografía ñandú.png", "demo-readme/README.txt", "demo-logo/logo.png"]
    assert archive.namelist() == [*expected_paths, "manifest.json"]
    targets = carton.store.targets("demo", download_id)
    assert [t.path for t in targets] == expected_paths
    assert all(t.state is TargetState.PACKED for t in targets)
    for target in targets:
        data = archive.read(target.path or "")
        assert zlib.crc32(data) == target.crc32 == sources[target.asset_id].crc32
        assert len(data) == target.size
    manifest = json.loads(archive.read("manifest.json"))
    assert [f["path"] for f in manifest["files"]] == expected_paths
    assert manifest["files"][0]["sha256"] == sources["demo-photo"].sha256


def test_clashing_names_get_counters_and_the_manifest_name_is_reserved(carton: Carton) -> None:
    store_bytes(carton.store, "demo", "dup1", "Logo.png", "text/plain", b"one")
    store_bytes(carton.store, "demo", "dup2", "manifest.json", "application/json", b"{}")
    download_id = new_download(carton, ["demo-logo", "dup1", "dup2"])
    run_workflow(carton, download_id)
    assert archive_of(carton, download_id).namelist() == [
        "logo.png",
        "Logo (1).png",
        "manifest (1).json",
        "manifest.json",
    ]


def test_an_asset_deleted_before_packaging_is_skipped_with_a_reason(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-logo", "demo-readme"])
    carton.store.put_asset(carton.assets["demo-readme"].model_copy(update={"deleted": True}))
    run_workflow(carton, download_id)
    targets = {t.asset_id: t for t in carton.store.targets("demo", download_id)}
    assert targets["demo-readme"].state is TargetState.SKIPPED and targets["demo-readme"].reason
    assert archive_of(carton, download_id).namelist() == ["logo.png", "manifest.json"]
    download = carton.store.get_download("demo", download_id)
    assert download.progress.files_skipped == 1 and download.target_count == 2


def test_a_source_changed_while_packing_fails_the_download_and_leaves_no_upload(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-logo"])
    state = step(carton, "prepare", {"download_id": download_id})
    aws.s3().put_object(Bucket=carton.resources.buckets["assets"], Key=carton.assets["demo-logo"].s3_key, Body=b"new")
    with pytest.raises(FunctionError) as caught:
        step(carton, "pack", {"download_id": download_id, **state["groups"][0]})
    assert caught.value.payload["errorType"] == "PackagingError"
    assert caught.value.payload["errorMessage"].startswith("source_changed:")

    failure = {"Error": "PackagingError", "Cause": json.dumps(caught.value.payload)}
    result = step(carton, "fail", {"download_id": download_id, "error": failure})
    assert result["state"] == "failed"
    download = carton.store.get_download("demo", download_id)
    assert download.state is DownloadState.FAILED
    assert download.error is not None and download.error.code == "source_changed"
    archives = carton.resources.buckets["archives"]
    assert not aws.s3().list_multipart_uploads(Bucket=archives).get("Uploads")
    assert aws.s3().list_objects_v2(Bucket=archives, Prefix="plans/")["KeyCount"] == 0


@pytest.mark.parametrize("on_missing", ["skip", "fail"])
def test_a_source_changed_before_packing_follows_on_missing(carton: Carton, on_missing: str) -> None:
    download_id = new_download(carton, ["demo-logo", "demo-readme"], on_missing=on_missing)
    aws.s3().put_object(Bucket=carton.resources.buckets["assets"], Key=carton.assets["demo-logo"].s3_key, Body=b"new")
    if on_missing == "fail":
        with pytest.raises(FunctionError) as caught:
            step(carton, "prepare", {"download_id": download_id})
        assert caught.value.payload["errorMessage"].startswith("source_missing:")
        return
    run_workflow(carton, download_id)
    targets = {t.asset_id: t for t in carton.store.targets("demo", download_id)}
    assert targets["demo-logo"].state is TargetState.SKIPPED
    assert "changed after it was ingested" in (targets["demo-logo"].reason or "")
    assert archive_of(carton, download_id).namelist() == ["README.txt", "manifest.json"]


def test_fail_aborts_the_unfinished_upload(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-logo"])
    step(carton, "prepare", {"download_id": download_id})
    s3, bucket = aws.s3(), carton.resources.buckets["archives"]
    assert len(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 1
    step(carton, "fail", {"download_id": download_id, "error": {"Error": "States.Timeout", "Cause": "took too long"}})
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    error = carton.store.get_download("demo", download_id).error
    assert error is not None and error.code == "timeout" and "took too long" not in error.message


def test_complete_refuses_an_archive_with_parts_missing(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-logo"])
    step(carton, "prepare", {"download_id": download_id})
    with pytest.raises(FunctionError) as caught:
        step(carton, "complete", {"download_id": download_id})
    assert caught.value.payload["errorMessage"].startswith("parts_missing:")
    assert carton.store.get_download("demo", download_id).state is DownloadState.PACKAGING


def test_a_worker_retried_redoes_only_its_parts_and_progress_adds_up(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-photo", "demo-readme", "demo-logo"])
    state = step(carton, "prepare", {"download_id": download_id})
    group = state["groups"][0]
    step(carton, "pack", {"download_id": download_id, **group})
    step(carton, "pack", {"download_id": download_id, **group})  # at-least-once: same parts again
    download = carton.store.get_download("demo", download_id)
    assert download.progress.files_done >= download.progress.files_total
    step(carton, "complete", {"download_id": download_id})
    assert archive_of(carton, download_id).testzip() is None
    done = carton.store.get_download("demo", download_id).progress
    assert (done.files_done, done.bytes_done) == (done.files_total, done.bytes_total)


def test_steps_on_a_deleted_download_change_nothing(carton: Carton) -> None:
    with pytest.raises(FunctionError) as caught:
        step(carton, "prepare", {})
    assert caught.value.payload["errorType"] == "Conflict"
    result = step(carton, "fail", {})
    assert result["state"] == "gone"


def test_renditions_and_conversions_are_made_once_packed_and_reused(carton: Carton) -> None:
    photo = store_bytes(carton.store, "demo", "big", "Big Photo.png", "image/png", png(1600, 900, (1, 2, 3)))
    renditions = {
        "global": {"image": {"rendition": "preview"}},
        "individual": {"demo-logo": {"conversion": {"format": "webp", "max_width": 16, "quality": 70}}},
    }
    first = new_download(carton, ["big", "demo-logo", "demo-readme"], renditions=renditions)
    run_workflow(carton, first)
    archive = archive_of(carton, first)
    assert archive.namelist() == ["Big Photo.jpg", "logo.webp", "README.txt", "manifest.json"]
    with Image.open(io.BytesIO(archive.read("Big Photo.jpg"))) as preview:
        assert (preview.format, preview.size) == ("JPEG", (1024, 576))
    with Image.open(io.BytesIO(archive.read("logo.webp"))) as converted:
        assert (converted.format, converted.size) == ("WEBP", (16, 16))
    targets = {t.asset_id: t for t in carton.store.targets("demo", first)}
    assert (targets["big"].rendition, targets["demo-logo"].rendition) == ("preview", "webp 16x q70")
    assert targets["demo-logo"].size == len(archive.read("logo.webp"))
    assert targets["demo-readme"].rendition == "original" and targets["demo-readme"].state is TargetState.PACKED
    manifest = json.loads(archive.read("manifest.json"))
    assert [f["rendition"] for f in manifest["files"]] == ["preview", "webp 16x q70", "original"]

    made = aws.s3().list_objects_v2(Bucket=carton.resources.buckets["assets"], Prefix="derived/")["KeyCount"]
    second = new_download(carton, ["big"], renditions={"global": renditions["global"]})
    run_workflow(carton, second)
    assert aws.s3().list_objects_v2(Bucket=carton.resources.buckets["assets"], Prefix="derived/")["KeyCount"] == made
    assert photo.width == 1600


def test_a_conversion_of_a_document_packs_the_original_and_says_why(carton: Carton) -> None:
    renditions = {"global": {"document": {"conversion": {"format": "png"}}}}
    download_id = new_download(carton, ["demo-report"], renditions=renditions)
    run_workflow(carton, download_id)
    target = carton.store.targets("demo", download_id)[0]
    assert target.state is TargetState.PACKED and target.rendition == "original"
    assert "apply to images" in (target.reason or "")
    assert archive_of(carton, download_id).namelist() == ["report.csv", "manifest.json"]


@pytest.mark.parametrize("on_missing", ["skip", "fail"])
def test_a_forbidden_source_fails_the_download_and_is_never_read_as_missing(carton: Carton, on_missing: str) -> None:
    download_id = new_download(carton, ["demo-logo", "demo-readme"], on_missing=on_missing)
    with refused("HeadObject", carton.assets["demo-readme"].s3_key), pytest.raises(FunctionError) as caught:
        step(carton, "prepare", {"download_id": download_id})
    assert caught.value.payload["errorType"] == "PackagingError"
    assert caught.value.payload["errorMessage"].startswith("source_forbidden: asset demo-readme: ")
    assert "s3:ListBucket" in caught.value.payload["errorMessage"]
    archives = carton.resources.buckets["archives"]
    assert not aws.s3().list_multipart_uploads(Bucket=archives).get("Uploads")

    failure = {"Error": "PackagingError", "Cause": json.dumps(caught.value.payload)}
    step(carton, "fail", {"download_id": download_id, "error": failure})
    error = carton.store.get_download("demo", download_id).error
    assert error is not None and error.code == "source_forbidden"


def test_a_missing_source_is_skipped_with_on_missing_skip(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-logo", "demo-readme"], on_missing="skip")
    with refused("HeadObject", carton.assets["demo-readme"].s3_key, status=404):
        state = step(carton, "prepare", {"download_id": download_id})
    for group in state["groups"]:
        step(carton, "pack", {"download_id": download_id, **group})
    step(carton, "complete", {"download_id": download_id})
    targets = {t.asset_id: t for t in carton.store.targets("demo", download_id)}
    assert targets["demo-readme"].state is TargetState.SKIPPED
    assert targets["demo-readme"].reason == "the stored file no longer exists"
    assert archive_of(carton, download_id).namelist() == ["logo.png", "manifest.json"]


@pytest.mark.parametrize(("status", "code"), [(403, "source_forbidden"), (404, "source_missing")])
def test_a_worker_that_may_not_read_a_source_says_which_it_is(carton: Carton, status: int, code: str) -> None:
    download_id = new_download(carton, ["demo-logo"])
    state = step(carton, "prepare", {"download_id": download_id})
    with (
        refused("GetObject", carton.assets["demo-logo"].s3_key, status),
        pytest.raises(FunctionError) as caught,
    ):
        step(carton, "pack", {"download_id": download_id, **state["groups"][0]})
    assert caught.value.payload["errorMessage"].startswith(f"{code}: ")


def test_a_rendition_of_a_forbidden_original_fails_and_of_a_missing_one_skips(carton: Carton) -> None:
    renditions = {"global": {"image": {"rendition": "thumbnail"}}}
    key = carton.assets["demo-logo"].s3_key
    forbidden = new_download(carton, ["demo-logo", "demo-readme"], renditions=renditions)
    with refused("GetObject", key), pytest.raises(FunctionError) as caught:
        step(carton, "prepare", {"download_id": forbidden})
    assert caught.value.payload["errorMessage"].startswith("source_forbidden: asset demo-logo: ")

    missing = new_download(carton, ["demo-logo", "demo-readme"], renditions=renditions)
    with refused("GetObject", key, status=404), refused("HeadObject", key, status=404):
        state = step(carton, "prepare", {"download_id": missing})
    for group in state["groups"]:
        step(carton, "pack", {"download_id": missing, **group})
    step(carton, "complete", {"download_id": missing})
    target = carton.store.get_target("demo", missing, "demo-logo")
    assert target.state is TargetState.SKIPPED and target.reason == "the stored file no longer exists"
    assert archive_of(carton, missing).namelist() == ["README.txt", "manifest.json"]
