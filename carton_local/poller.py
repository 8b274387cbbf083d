"""Feeds SQS messages to functions as Lambda's event source mapping would: batches of
up to 10, partial batch failures honoured (failed messages stay and are redelivered
after the visibility timeout, then dead-lettered by the queue's redrive policy)."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

import boto3

from carton_local.lambdas import REGION, FunctionError, LocalFunctions


def sqs_event(queue_arn: str, messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for message in messages
        ]
    }


class QueuePoller(threading.Thread):
    def __init__(
        self, functions: LocalFunctions, queue_url: str, function: str, stop: threading.Event, batch_size: int = 10
    ) -> None:
        """`batch_size`: messages per invocation, as the deployed event source takes them (S3Feed)."""
        super().__init__(name=f"poller-{function}", daemon=True)
        self._functions, self._queue_url, self._function, self._stop = functions, queue_url, function, stop
        self._batch_size = batch_size
        self._sqs = boto3.client("sqs")
        self._arn = self._sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    def poll_once(self, wait_seconds: int = 1) -> int:
        """Deliver one batch; returns how many messages it held."""
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        try:
            result = self._functions.invoke(self._function, sqs_event(self._arn, messages))
            failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
        except FunctionError:
            traceback.print_exc()
            failed = {message["MessageId"] for message in messages}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        return len(messages)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # keep polling: the next batch may succeed
                if not self._stop.is_set():
                    traceback.print_exc()
                    self._stop.wait(1)
