"""How a worker names what S3 refused — missing (404), changed (412), forbidden (403) — and
which faults the workflow retries a step on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError, ResponseStreamingError
from botocore.stub import Stubber

from carton.packaging.assembly import Copy, Literal, Part, Source, Span
from carton.packaging.failures import error_from
from carton.packaging.workers import PlanDocument, pack_parts
from carton.shared.errors import PackagingError, StorageThrottled, StorageUnavailable, retried_by_the_workflow
from infra.definition import definition_template

SOURCE = Source("assets/demo/a/a.bin", '"etag"', 32 * 1024 * 1024)


def document(part: Part) -> PlanDocument:
    return PlanDocument(
        archive_key="archives/demo/d/d.zip",
        upload_id="u",
        size=part.size,
        crc32=0,
        sources=(SOURCE,),
        parts=(part,),
        counted=(True,),
    )


def failing(operation: str, code: str, status: int, part: Part) -> PackagingError:
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(s3) as stub:
        stub.add_client_error(operation, service_error_code=code, http_status_code=status)
        with pytest.raises(PackagingError) as caught:
            pack_parts(s3, document(part), 1, 1, "assets", "archives")
    return caught.value


GLUE = Part(1, [Literal(b"header"), Span(0, 0, 10)])
COPY = Part(1, [Copy(0, 0, SOURCE.size)])


@pytest.mark.parametrize(
    ("operation", "part", "code", "status", "expected"),
    [
        ("get_object", GLUE, "AccessDenied", 403, "source_forbidden"),
        ("get_object", GLUE, "NoSuchKey", 404, "source_missing"),
        ("get_object", GLUE, "PreconditionFailed", 412, "source_changed"),
        ("upload_part_copy", COPY, "AccessDenied", 403, "source_forbidden"),
        ("upload_part_copy", COPY, "NoSuchKey", 404, "source_missing"),
        ("upload_part_copy", COPY, "PreconditionFailed", 412, "source_changed"),
        ("upload_part_copy", COPY, "NoSuchUpload", 404, "upload_gone"),
    ],
)
def test_a_refused_read_says_what_it_was(operation: str, part: Part, code: str, status: int, expected: str) -> None:
    error = failing(operation, code, status, part)
    assert error.code == expected
    if expected == "source_forbidden":
        assert "s3:ListBucket" in error.message and SOURCE.key in error.message


def test_a_refused_glue_upload_is_the_archives_bucket_not_a_source() -> None:
    part = Part(1, [Literal(b"0123456789")])
    error = failing("upload_part", "AccessDenied", 403, part)
    assert error.code == "archive_forbidden" and "s3:PutObject" in error.message


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (
            {"Error": "RuntimeError", "Cause": '{"errorMessage": "dictionary changed size during iteration"}'},
            "internal_error",
        ),
        ({"Error": "KeyError", "Cause": '{"errorMessage": "\'pk\'", "stackTrace": ["File x"]}'}, "internal_error"),
        ({"Error": "States.Timeout", "Cause": "task timed out"}, "timeout"),
        ({"Error": "Lambda.ServiceException", "Cause": "{}"}, "service_unavailable"),
        ({"Error": "StorageThrottled", "Cause": '{"errorMessage": "UploadPart: SlowDown"}'}, "storage_busy"),
    ],
)
def test_a_failure_shows_a_stable_code_and_a_sentence_never_the_exceptions_text(
    failure: dict[str, str], code: str
) -> None:
    error = error_from(failure)
    assert error.code == code
    assert "dictionary" not in error.message and "pk" not in error.message and "SlowDown" not in error.message
    assert len(error.message) > 20


def test_carton_s_own_packaging_errors_keep_their_code_and_message() -> None:
    cause = '{"errorMessage": "source_missing: 2 file(s) unreadable, e.g. a1: the stored file no longer exists"}'
    error = error_from({"Error": "PackagingError", "Cause": cause})
    assert (error.code, error.message) == (
        "source_missing",
        "2 file(s) unreadable, e.g. a1: the stored file no longer exists",
    )


class _CutShort:
    """A range body whose connection resets halfway (what the SDK cannot retry itself)."""

    def read(self) -> bytes:
        raise ResponseStreamingError(error=ConnectionResetError(104, "Connection reset by peer"))


def test_a_connection_reset_mid_read_is_retried_by_the_workflow_not_a_failure() -> None:
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(s3) as stub:
        stub.add_response("get_object", {"Body": _CutShort()})  # type: ignore[dict-item]
        with pytest.raises(StorageUnavailable):
            pack_parts(s3, document(GLUE), 1, 1, "assets", "archives")


def _tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        if state["Type"] == "Task":
            yield name, state
        if "ItemProcessor" in state:
            yield from _tasks(state["ItemProcessor"]["States"])


def test_every_step_is_retried_on_throttling_and_lost_connections_with_jitter() -> None:
    names = {StorageThrottled.__name__, StorageUnavailable.__name__}
    for name, task in _tasks(json.loads(definition_template())["States"]):
        covering = [r for r in task["Retry"] if names <= set(r["ErrorEquals"]) or r["ErrorEquals"] == ["States.ALL"]]
        assert covering, f"{name} does not retry transient storage faults"
        if covering[0]["ErrorEquals"] != ["States.ALL"]:
            assert covering[0]["JitterStrategy"] == "FULL" and covering[0]["MaxAttempts"] >= 3


def _client_error(code: str, status: int, reasons: list[str] | None = None) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": reason} for reason in reasons]
    return ClientError(response, "Op")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "retried_as"),
    [
        (_client_error("TransactionCanceledException", 400, ["None", "TransactionConflict"]), StorageThrottled),
        (_client_error("ProvisionedThroughputExceededException", 400), StorageThrottled),
        (_client_error("ThrottlingException", 400), StorageThrottled),
        (_client_error("SlowDown", 503), StorageThrottled),
        (_client_error("InternalServerError", 500), StorageUnavailable),
        (_client_error("InternalError", 500), StorageUnavailable),
        (_client_error("", 502), StorageUnavailable),
        (EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"), StorageUnavailable),
        (ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"), StorageUnavailable),
        # Not transient: a failed condition, a bad request, access denied, our own errors.
        (_client_error("TransactionCanceledException", 400, ["ConditionalCheckFailed", "None"]), None),
        (_client_error("ConditionalCheckFailedException", 400), None),
        (_client_error("ValidationException", 400), None),
        (_client_error("AccessDenied", 403), None),
        (ValueError("a bug"), None),
    ],
)
def test_a_step_turns_only_transient_faults_into_the_errors_the_workflow_retries(
    error: Exception, retried_as: type[Exception] | None
) -> None:
    def step() -> None:
        raise error

    wrapped = retried_by_the_workflow(step)
    with pytest.raises(retried_as or type(error)) as raised:
        wrapped()
    if retried_as is not None:
        assert raised.value.__cause__ is error
    else:
        assert raised.value is error
