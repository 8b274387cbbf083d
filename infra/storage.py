"""The table and the buckets."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from carton.schema import PLANS_PREFIX, TABLE_INDEXES, TABLE_KEYS
from infra.nag import acknowledge

_S = dynamodb.AttributeType.STRING


def _private_bucket(scope: Construct, id: str, **props: Any) -> s3.Bucket:
    """Private, SSE-S3 encrypted, TLS-only, ACLs disabled: every Carton bucket."""
    return s3.Bucket(
        scope,
        id,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        **props,
    )


class Storage(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        archive_expiry_days: int,
        deletion_protection: bool,
    ) -> None:
        super().__init__(scope, id)
        retain = cdk.RemovalPolicy.RETAIN
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=TABLE_KEYS.partition_key, type=_S),
            sort_key=dynamodb.Attribute(name=TABLE_KEYS.sort_key, type=_S),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=deletion_protection,
            removal_policy=retain,
        )
        for index in TABLE_INDEXES:
            self.table.add_global_secondary_index(
                index_name=index.name,
                partition_key=dynamodb.Attribute(name=index.keys.partition_key, type=_S),
                sort_key=dynamodb.Attribute(name=index.keys.sort_key, type=_S),
            )

        abort_uploads = s3.LifecycleRule(
            id="abort-incomplete-uploads",
            abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
        )
        self.access_logs = _private_bucket(
            self,
            "AccessLogs",
            lifecycle_rules=[s3.LifecycleRule(id="expire-logs", expiration=cdk.Duration.days(90))],
            removal_policy=retain,
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This is the access-log bucket; logging it to itself would loop.",
        )
        self.assets = _private_bucket(
            self,
            "Assets",
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="assets/",
            lifecycle_rules=[
                abort_uploads,
                s3.LifecycleRule(
                    id="expire-old-versions",
                    noncurrent_version_expiration=cdk.Duration.days(30),
                ),
            ],
            removal_policy=retain,
        )
        self.archives = _private_bucket(
            self,
            "Archives",
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="archives/",
            lifecycle_rules=[
                abort_uploads,
                s3.LifecycleRule(id="expire-plans", prefix=PLANS_PREFIX, expiration=cdk.Duration.days(2)),
                s3.LifecycleRule(
                    id="expire-archives",
                    expiration=cdk.Duration.days(archive_expiry_days),
                ),
            ],
            # Archives are derived data: they can always be built again.
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )

    def bucket(self, name: str) -> s3.Bucket:
        """The bucket a feed names ("assets" or "archives")."""
        return {"assets": self.assets, "archives": self.archives}[name]
