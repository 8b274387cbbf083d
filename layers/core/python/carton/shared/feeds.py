"""S3 event notifications delivered through SQS, processed with partial batch failures:
a record that fails is retried (then dead-lettered) without replaying the others."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


def s3_object_keys(record: SQSRecord) -> list[str]:
    """Object keys of the S3 event in one SQS message (none for s3:TestEvent).

    S3 sends keys form-encoded ("a b.jpg" arrives as "a+b.jpg")."""
    body = json.loads(record.body)
    return [unquote_plus(entry["s3"]["object"]["key"]) for entry in body.get("Records", []) if "s3" in entry]


def process_s3_feed(event: dict[str, Any], context: Any, on_key: Callable[[str], object]) -> dict[str, Any]:
    def handle(record: SQSRecord) -> None:
        for key in s3_object_keys(record):
            on_key(key)

    response: dict[str, Any] = process_partial_response(  # type: ignore[assignment]
        event=event, record_handler=handle, processor=BatchProcessor(event_type=EventType.SQS), context=context
    )
    return response
