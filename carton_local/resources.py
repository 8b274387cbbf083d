"""Creates the local AWS resources from the same definitions CDK deploys:
the table's keys and indexes, the S3 feeds and their queues, the ASL workflow."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3

from carton.storage.schema import (
    FEED_MAX_RECEIVES,
    FEED_VISIBILITY_TIMEOUT_SECONDS,
    S3_FEEDS,
    TABLE_INDEXES,
    TABLE_KEYS,
)
from carton_local.lambdas import ACCOUNT, function_arn
from infra.definition import placeholders, render


@dataclass(frozen=True)
class LocalResources:
    table: str
    buckets: dict[str, str]  # "assets" / "archives" -> bucket name
    queues: dict[str, str]  # feed name -> queue URL
    state_machine_arn: str


def _key_schema(partition: str, sort: str) -> list[Any]:
    return [{"AttributeName": partition, "KeyType": "HASH"}, {"AttributeName": sort, "KeyType": "RANGE"}]


def create_table(name: str) -> None:
    dynamodb = boto3.client("dynamodb")
    key_names = {TABLE_KEYS.partition_key, TABLE_KEYS.sort_key}
    for index in TABLE_INDEXES:
        key_names |= {index.keys.partition_key, index.keys.sort_key}
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in sorted(key_names)],
        KeySchema=_key_schema(TABLE_KEYS.partition_key, TABLE_KEYS.sort_key),
        GlobalSecondaryIndexes=[
            {
                "IndexName": index.name,
                "KeySchema": _key_schema(index.keys.partition_key, index.keys.sort_key),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in TABLE_INDEXES
        ],
    )


def create_feeds(buckets: dict[str, str], prefix: str) -> dict[str, str]:
    """A queue (with dead-letter queue) per S3 feed, and the bucket notifications."""
    sqs, s3 = boto3.client("sqs"), boto3.client("s3")
    queues: dict[str, str] = {}
    notifications: dict[str, list[Any]] = {}
    for feed in S3_FEEDS:
        dlq_url = sqs.create_queue(QueueName=f"{prefix}-{feed.name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(
            QueueName=f"{prefix}-{feed.name}",
            Attributes={
                "VisibilityTimeout": str(FEED_VISIBILITY_TIMEOUT_SECONDS),
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": FEED_MAX_RECEIVES}),
            },
        )["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queues[feed.name] = url
        notifications.setdefault(feed.bucket, []).append(
            {
                "QueueArn": arn,
                "Events": list(feed.events),
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": feed.prefix}]}},
            }
        )
    for bucket, configurations in notifications.items():
        s3.put_bucket_notification_configuration(
            Bucket=buckets[bucket], NotificationConfiguration={"QueueConfigurations": configurations}
        )
    return queues


LOCAL_PREFIX = "carton-local"


def bucket_names(prefix: str = LOCAL_PREFIX) -> dict[str, str]:
    return {"assets": f"{prefix}-assets", "archives": f"{prefix}-archives"}


def create_all(prefix: str = LOCAL_PREFIX) -> LocalResources:
    s3 = boto3.client("s3")
    buckets = bucket_names(prefix)
    for name in buckets.values():
        s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=buckets["assets"], VersioningConfiguration={"Status": "Enabled"})
    table = f"{prefix}-table"
    create_table(table)
    queues = create_feeds(buckets, prefix)
    definition = render({name: function_arn(name) for name in placeholders()})
    state_machine = boto3.client("stepfunctions").create_state_machine(
        name=f"{prefix}-packaging",
        definition=definition,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/{prefix}-workflow",
    )
    return LocalResources(
        table=table, buckets=buckets, queues=queues, state_machine_arn=state_machine["stateMachineArn"]
    )
