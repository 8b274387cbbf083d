"""S3 event feeds: bucket notifications → SQS (with dead-letter queue) → function."""

from __future__ import annotations

import re

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from carton.storage.schema import FEED_MAX_RECEIVES, FEED_VISIBILITY_TIMEOUT_SECONDS, S3_FEEDS
from infra.nag import acknowledge
from infra.storage import Storage


def event_type(name: str) -> s3.EventType:
    """ "s3:ObjectCreated:*" (S3's notation, used by the local stack too) → EventType.OBJECT_CREATED."""
    kind = name.removeprefix("s3:").removesuffix(":*")
    return s3.EventType[re.sub(r"(?<!^)(?=[A-Z])", "_", kind).upper().replace(":", "_")]


class Triggers(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        storage: Storage,
        functions: dict[str, lambda_.Function],
    ) -> None:
        super().__init__(scope, id)
        self.dead_letter_queues: list[sqs.Queue] = []
        self.queues: dict[str, sqs.Queue] = {}  # feed name -> the queue its function reads
        for feed in S3_FEEDS:
            scope_ = Construct(self, feed.name)
            dead_letters = sqs.Queue(
                scope_,
                "DeadLetters",
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                retention_period=cdk.Duration.days(14),
            )
            acknowledge(
                dead_letters,
                "AwsSolutions-SQS3",
                "This is the dead-letter queue of the feed's queue.",
            )
            queue = sqs.Queue(
                scope_,
                "Queue",
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                visibility_timeout=cdk.Duration.seconds(FEED_VISIBILITY_TIMEOUT_SECONDS),
                dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=FEED_MAX_RECEIVES, queue=dead_letters),
            )
            bucket = storage.bucket(feed.bucket)
            for event in feed.events:
                bucket.add_event_notification(
                    event_type(event),
                    s3n.SqsDestination(queue),
                    s3.NotificationKeyFilter(prefix=feed.prefix),
                )
            functions[feed.function].add_event_source(
                sources.SqsEventSource(queue, batch_size=feed.batch_size, report_batch_item_failures=True)
            )
            self.dead_letter_queues.append(dead_letters)
            self.queues[feed.name] = queue
