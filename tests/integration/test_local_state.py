"""carton_local.state in-process: a snapshot taken from moto and restored into freshly
created resources gives back every item, every object version (ids and bytes), the open
multipart uploads and the waiting SQS messages; unfinished downloads are reported."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from carton_local import hardening
from carton_local.lambdas import REGION
from carton_local.resources import LocalResources, create_all
from carton_local.state import StateDir, StateInUse, capture, restore


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    hardening.harden()
    try:
        yield
    finally:
        hardening.soften()


def fill(resources: LocalResources) -> dict[str, object]:
    s3, dynamodb, sqs = boto3.client("s3"), boto3.client("dynamodb"), boto3.client("sqs")
    assets = resources.buckets["assets"]
    first = s3.put_object(Bucket=assets, Key="a/one.txt", Body=b"first")["VersionId"]
    second = s3.put_object(Bucket=assets, Key="a/one.txt", Body=b"second")["VersionId"]
    upload = s3.create_multipart_upload(Bucket=resources.buckets["archives"], Key="archives/x.zip")["UploadId"]
    s3.upload_part(
        Bucket=resources.buckets["archives"], Key="archives/x.zip", UploadId=upload, PartNumber=1, Body=b"p" * 1000
    )
    for state, download_id in (("packaging", "d1"), ("complete", "d2")):
        dynamodb.put_item(
            TableName=resources.table,
            Item={
                "pk": {"S": "ACCOUNT#acme"},
                "sk": {"S": f"DOWNLOAD#{download_id}"},
                "account_id": {"S": "acme"},
                "download_id": {"S": download_id},
                "state": {"S": state},
                "size": {"N": "12"},
                "blob": {"B": b"\x00\x01"},
            },
        )
    sqs.send_message(QueueUrl=resources.queues["uploads"], MessageBody='{"Records": []}')
    return {"versions": [second, first], "upload": upload}


def test_a_snapshot_restores_items_versions_uploads_and_messages(fresh: None) -> None:
    with mock_aws():
        made = fill(create_all())
        with hardening.all_services():
            data = pickle.dumps(capture())
    with mock_aws():  # a new process, as far as moto is concerned
        resources = create_all()
        restored = restore(pickle.loads(data))  # noqa: S301
        s3 = boto3.client("s3")
        assets = resources.buckets["assets"]
        versions = s3.list_object_versions(Bucket=assets, Prefix="a/")["Versions"]
        assert [version["VersionId"] for version in versions] == made["versions"]
        bodies = [
            s3.get_object(Bucket=assets, Key="a/one.txt", VersionId=str(v))["Body"].read() for v in made["versions"]
        ]
        assert bodies == [b"second", b"first"]
        parts = s3.list_parts(Bucket=resources.buckets["archives"], Key="archives/x.zip", UploadId=str(made["upload"]))
        assert [part["Size"] for part in parts["Parts"]] == [1000]
        items = boto3.client("dynamodb").scan(TableName=resources.table)["Items"]
        assert {item["download_id"]["S"]: item["blob"]["B"] for item in items} == {"d1": b"\x00\x01", "d2": b"\x00\x01"}
        messages = boto3.client("sqs").receive_message(QueueUrl=resources.queues["uploads"], MaxNumberOfMessages=10)
        bodies = [message["Body"] for message in messages["Messages"]]
        # S3 greets a new notification configuration with a test event: one per start.
        assert [body for body in bodies if "s3:TestEvent" not in body] == ['{"Records": []}']
        assert restored.unfinished_downloads == [("acme", "d1")]
        assert (restored.items, restored.objects, restored.dropped) == (2, 2, [])


def test_the_state_directory_is_held_by_one_stack_and_replaced_whole(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    state.lock()
    try:
        with pytest.raises(StateInUse):
            StateDir(tmp_path / "state").reset()
        state.write(pickle.dumps({"format": 1, "tables": {}}))
        assert state.read() == {"format": 1, "tables": {}}
    finally:
        state.unlock()
    state.snapshot_file.write_bytes(b"not a pickle")
    assert state.read() is None  # moved aside, not lost
    assert [path.name.startswith("snapshot.pickle.unreadable-") for path in state.path.iterdir()].count(True) == 1
    StateDir(tmp_path / "state").reset()
    assert [path.name for path in state.path.iterdir()] == [".lock"]
