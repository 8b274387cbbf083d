"""S3 → SQS feeds: the handlers invoked with SQS batches of S3 events."""

import json
import zlib

from carton import aws
from carton.models import DownloadState
from carton_local.poller import sqs_event
from tests.integration.conftest import Carton, load_event
from tests.integration.test_workflow import new_download, run_workflow


def with_key(event: dict, key: str) -> dict:
    body = json.loads(event["Records"][0]["body"])
    body["Records"][0]["s3"]["object"]["key"] = key
    event["Records"][0]["body"] = json.dumps(body)
    return event


def test_an_upload_becomes_an_asset_once(carton: Carton) -> None:
    data = bytes(range(256)) * 1000
    key = "uploads/demo/0f8fad5bd9cb469fa16570867728950e/Summer 2026 — poster.png"
    aws.s3().put_object(Bucket=carton.resources.buckets["assets"], Key=key, Body=data, ContentType="image/png")
    event = load_event("feeds/upload_created")
    assert carton.invoke("ingest_upload", event) == {"batchItemFailures": []}

    asset = carton.store.get_assets("demo", ["0f8fad5bd9cb469fa16570867728950e"])["0f8fad5bd9cb469fa16570867728950e"]
    assert asset.filename == "Summer 2026 — poster.png" and asset.content_type == "image/png"
    assert asset.size == len(data) and asset.crc32 == zlib.crc32(data)
    stored = aws.s3().get_object(Bucket=carton.resources.buckets["assets"], Key=asset.s3_key)
    assert stored["Body"].read() == data and stored["ETag"] == asset.etag
    assert "Contents" not in aws.s3().list_objects_v2(Bucket=carton.resources.buckets["assets"], Prefix="uploads/")

    # SQS delivers at least once: the same event again changes nothing.
    assert carton.invoke("ingest_upload", event) == {"batchItemFailures": []}
    again = carton.store.get_assets("demo", [asset.asset_id])[asset.asset_id]
    assert again == asset


def test_a_failing_record_is_reported_alone(carton: Carton) -> None:
    good = load_event("feeds/upload_created")
    key = "uploads/demo/0f8fad5bd9cb469fa16570867728950e/Summer 2026 — poster.png"
    aws.s3().put_object(Bucket=carton.resources.buckets["assets"], Key=key, Body=b"ok")
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
