"""The table and the buckets."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from carton.storage.schema import (
    ARCHIVE_EXPIRY_TAG,
    ARCHIVES_PREFIX,
    PLANS_PREFIX,
    TABLE_INDEXES,
    TABLE_KEYS,
    UPLOADS_PREFIX,
)
from infra.nag import acknowledge

_S = dynamodb.AttributeType.STRING
# How long a browser may cache a bucket's CORS preflight answer.
CORS_MAX_AGE_SECONDS = 3600
# Archives are fetched with presigned GETs, possibly in ranges (resumable, parallel).
ARCHIVE_EXPOSED_HEADERS = ["Content-Range", "Content-Length", "ETag", "Content-Disposition"]


def _assets_cors(origins: tuple[str, ...]) -> list[s3.CorsRule] | None:
    """Browser uploads: a presigned POST form to the bucket root, or a presigned PUT."""
    if not origins:
        return None
    return [
        s3.CorsRule(
            allowed_methods=[s3.HttpMethods.POST, s3.HttpMethods.PUT],
            allowed_origins=list(origins),
            allowed_headers=["Content-Type", "Content-MD5", "x-amz-*"],
            # A multipart upload completes with each part's ETag, which the page must read.
            exposed_headers=["ETag"],
            max_age=CORS_MAX_AGE_SECONDS,
        )
    ]


def _archives_cors(origins: tuple[str, ...]) -> list[s3.CorsRule] | None:
    if not origins:
        return None
    return [
        s3.CorsRule(
            allowed_methods=[s3.HttpMethods.GET, s3.HttpMethods.HEAD],
            allowed_origins=list(origins),
            allowed_headers=["Range"],
            exposed_headers=ARCHIVE_EXPOSED_HEADERS,
            max_age=CORS_MAX_AGE_SECONDS,
        )
    ]


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
        cors_origins: tuple[str, ...] = (),
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
            cors=_assets_cors(cors_origins),
            lifecycle_rules=[
                abort_uploads,
                s3.LifecycleRule(
                    id="expire-old-versions",
                    noncurrent_version_expiration=cdk.Duration.days(30),
                ),
                # Uploads are removed once ingested; their bytes live on under the asset's key.
                s3.LifecycleRule(
                    id="expire-ingested-uploads",
                    prefix=UPLOADS_PREFIX,
                    noncurrent_version_expiration=cdk.Duration.days(1),
                ),
            ],
            removal_policy=retain,
        )
        self.archives = _private_bucket(
            self,
            "Archives",
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="archives/",
            cors=_archives_cors(cors_origins),
            lifecycle_rules=[
                abort_uploads,
                s3.LifecycleRule(id="expire-plans", prefix=PLANS_PREFIX, expiration=cdk.Duration.days(2)),
                s3.LifecycleRule(
                    id="expire-archives",
                    expiration=cdk.Duration.days(archive_expiry_days),
                ),
                # A download's own, shorter life (expires_in_days): S3 honours the shortest rule.
                *(
                    s3.LifecycleRule(
                        id=f"expire-archives-after-{days}-days",
                        prefix=ARCHIVES_PREFIX,
                        tag_filters={ARCHIVE_EXPIRY_TAG: str(days)},
                        expiration=cdk.Duration.days(days),
                    )
                    for days in range(1, archive_expiry_days)
                ),
            ],
            # Archives are derived data: they can always be built again.
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )

    def bucket(self, name: str) -> s3.Bucket:
        """The bucket a feed names ("assets" or "archives")."""
        return {"assets": self.assets, "archives": self.archives}[name]
