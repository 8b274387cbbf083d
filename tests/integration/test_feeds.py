"""S3 → SQS feeds: the handlers invoked with SQS batches of S3 events."""

import hashlib
import json
import zlib
from datetime import timedelta

import pytest

from carton.accounts.keys import principal_from_context
from carton.assets.api import UploadOut, UploadRequest
from carton.assets.models import Upload, UploadState
from carton.assets.uploads import create_upload, upload_key
from carton.downloads.models import DownloadState
from carton.shared import aws
from carton_local.demo import png
from carton_local.poller import sqs_event
from tests.integration.conftest import Carton, load_event
from tests.integration.test_workflow import new_download, run_workflow


def with_key(event: dict, key: str) -> dict:
    body = json.loads(event["Records"][0]["body"])
    body["Records"][0]["s3"]["object"]["key"] = key
    event["Records"][0]["body"] = json.dumps(body)
    return event


def announce_upload(carton: Carton, filename: str, content_type: str, size: int) -> Upload:
    principal = principal_from_context(load_event("api/create_download")["requestContext"]["authorizer"])
    out = create_upload(
        principal,
        UploadRequest(filename=filename, content_type=content_type, size=size),
        carton.store,
        "https://x",
    )
    return carton.store.get_upload("demo", out.id)


def deliver(carton: Carton, upload: Upload, data: bytes) -> dict:
    key = upload_key(upload)
    aws.s3().put_object(Bucket=carton.resources.buckets["assets"], Key=key, Body=data)
    event = with_key(load_event("feeds/upload_created"), key.replace(" ", "+"))
    result: dict = carton.invoke("ingest_upload", event)
    return result


def test_an_upload_becomes_an_asset_once(carton: Carton) -> None:
    data = png(40, 30)
    upload = announce_upload(carton, "Summer 2026 — poster.png", "image/png", len(data))
    assert deliver(carton, upload, data) == {"batchItemFailures": []}
    settled = carton.store.get_upload("demo", upload.upload_id)
    assert settled.state is UploadState.INGESTED and settled.asset_id and not settled.duplicate
    asset = carton.store.get_assets("demo", [settled.asset_id])[settled.asset_id]
    assert asset.filename == "Summer 2026 — poster.png" and asset.content_type == "image/png"
    assert (asset.size, asset.crc32, asset.width, asset.height) == (len(data), zlib.crc32(data), 40, 30)
    stored = aws.s3().get_object(Bucket=carton.resources.buckets["assets"], Key=asset.s3_key)
    assert stored["Body"].read() == data and stored["ETag"] == asset.etag
    assert "Contents" not in aws.s3().list_objects_v2(Bucket=carton.resources.buckets["assets"], Prefix="uploads/")

    # SQS delivers at least once: the same event again changes nothing.
    event = with_key(load_event("feeds/upload_created"), upload_key(upload).replace(" ", "+"))
    assert carton.invoke("ingest_upload", event) == {"batchItemFailures": []}
    assert carton.store.get_upload("demo", upload.upload_id) == settled


def test_the_same_bytes_uploaded_again_are_the_same_asset(carton: Carton) -> None:
    data = png(8, 8)
    first = announce_upload(carton, "a.png", "image/png", len(data))
    deliver(carton, first, data)
    second = announce_upload(carton, "b.png", "image/png", len(data))
    deliver(carton, second, data)
    one, two = (carton.store.get_upload("demo", u.upload_id) for u in (first, second))
    assert two.duplicate and two.asset_id == one.asset_id


@pytest.mark.parametrize(
    ("declared", "data", "size_delta", "reason"),
    [
        ("image/png", b"\xff\xd8\xff\xe0 not a png", 0, "declared image/png, the bytes are image/jpeg"),
        ("image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 0, "not a readable image"),
        ("text/plain", b"\x00\x01binary", 0, "the bytes are of no accepted type"),
        ("text/plain", b"hello", 3, "announced"),
    ],
)
def test_a_bad_upload_is_rejected_with_its_reason_and_removed(
    carton: Carton, declared: str, data: bytes, size_delta: int, reason: str
) -> None:
    upload = announce_upload(carton, "x.bin", declared, len(data) + size_delta)
    deliver(carton, upload, data)
    settled = carton.store.get_upload("demo", upload.upload_id)
    assert settled.state is UploadState.REJECTED and reason in (settled.reason or "")
    assert "Contents" not in aws.s3().list_objects_v2(Bucket=carton.resources.buckets["assets"], Prefix="uploads/")
    assert carton.store.asset_with_sha256("demo", hashlib.sha256(data).hexdigest()) is None


def test_an_object_nobody_announced_is_removed(carton: Carton) -> None:
    key = "uploads/demo/0f8fad5bd9cb469fa16570867728950e/Summer 2026 — poster.png"
    aws.s3().put_object(Bucket=carton.resources.buckets["assets"], Key=key, Body=b"x")
    assert carton.invoke("ingest_upload", load_event("feeds/upload_created")) == {"batchItemFailures": []}
    assert "Contents" not in aws.s3().list_objects_v2(Bucket=carton.resources.buckets["assets"], Prefix="uploads/")


def test_a_failing_record_is_reported_alone(carton: Carton) -> None:
    good = load_event("feeds/upload_created")
    bad = json.loads(json.dumps(good["Records"][0]))
    bad["messageId"] = "bad-one"
    bad["body"] = "not json"
    event = {"Records": [good["Records"][0], bad]}
    assert carton.invoke("ingest_upload", event) == {"batchItemFailures": [{"itemIdentifier": "bad-one"}]}


def test_removing_a_complete_archive_expires_its_download(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-readme"])
    run_workflow(carton, download_id)
    download = carton.store.get_download("demo", download_id)
    event = with_key(load_event("feeds/archive_expired"), (download.archive_key or "").replace(" ", "+"))
    assert carton.invoke("archive_removed", event) == {"batchItemFailures": []}
    assert carton.store.get_download("demo", download_id).state is DownloadState.EXPIRED
    # A removal event for something that is not a complete download changes nothing.
    assert carton.invoke("archive_removed", load_event("feeds/archive_expired")) == {"batchItemFailures": []}


def test_the_local_poller_builds_what_lambda_sends() -> None:
    event = sqs_event("arn:aws:sqs:us-east-1:1:q", [{"MessageId": "m", "ReceiptHandle": "r", "Body": "{}"}])
    record = event["Records"][0]
    assert record["messageId"] == "m" and record["eventSource"] == "aws:sqs" and record["body"] == "{}"


def test_an_upload_whose_file_vanished_is_rejected_and_one_never_sent_expires(carton: Carton) -> None:
    upload = announce_upload(carton, "lost.png", "image/png", 100)
    assert UploadOut.of(upload, "https://x").state is UploadState.PENDING
    # The object was removed before ingest: the event finds nothing, and the upload says so.
    event = with_key(load_event("feeds/upload_created"), upload_key(upload))
    assert carton.invoke("ingest_upload", event) == {"batchItemFailures": []}
    vanished = carton.store.get_upload("demo", upload.upload_id)
    assert vanished.state is UploadState.REJECTED and "removed before it could be ingested" in (vanished.reason or "")
    # An upload nothing ever arrived for shows as expired, well after its ticket expired.
    never = announce_upload(carton, "never.png", "image/png", 100)
    later = never.model_copy(update={"created_at": never.created_at - timedelta(hours=1)})
    shown = UploadOut.of(later, "https://x")
    assert shown.state is UploadState.EXPIRED and shown.reason and "expired" in shown.reason


def test_a_delivery_after_settling_removes_a_leftover_object_and_changes_nothing(carton: Carton) -> None:
    data = png(10, 10)
    upload = announce_upload(carton, "left.png", "image/png", len(data))
    assert deliver(carton, upload, data) == {"batchItemFailures": []}
    settled = carton.store.get_upload("demo", upload.upload_id)
    # A first delivery stopped between settling the record and removing the object.
    aws.s3().put_object(Bucket=carton.resources.buckets["assets"], Key=upload_key(upload), Body=data)
    event = with_key(load_event("feeds/upload_created"), upload_key(upload))
    assert carton.invoke("ingest_upload", event) == {"batchItemFailures": []}
    assert carton.store.get_upload("demo", upload.upload_id) == settled
    assert "Contents" not in aws.s3().list_objects_v2(Bucket=carton.resources.buckets["assets"], Prefix="uploads/")


def test_two_deliveries_of_one_upload_at_once_are_not_a_duplicate_of_itself(carton: Carton) -> None:
    """The second delivery runs while the first has created the asset but not yet settled
    the upload: it finds the asset by its bytes, and it is this upload's own asset."""
    data = png(12, 12)
    upload = announce_upload(carton, "twice.png", "image/png", len(data))
    assert deliver(carton, upload, data) == {"batchItemFailures": []}
    first = carton.store.get_upload("demo", upload.upload_id)
    carton.store.put_upload(upload)  # as the second delivery saw it: still pending
    assert deliver(carton, upload, data) == {"batchItemFailures": []}
    second = carton.store.get_upload("demo", upload.upload_id)
    assert second.asset_id == first.asset_id and not second.duplicate
