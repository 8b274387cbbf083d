"""boto3 clients, created once per process and reused across invocations.

Endpoints come from the standard AWS_ENDPOINT_URL_<SERVICE> variables, which is how
the local stack points them at its embedded emulator.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ses import SESClient
    from mypy_boto3_stepfunctions import SFNClient

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


# botocore still presigns S3 with SigV2 in us-east-1, us-west-2, eu-west-1 and others unless
# asked; buckets created since June 2020 refuse SigV2, and SigV2 leaves headers unsigned.
# Links name the bucket's regional host (bucket.s3.<region>.amazonaws.com): the global one
# answers a new bucket outside us-east-1 with a redirect, which breaks a signed GET and a
# browser's CORS request. A custom endpoint (the local stack's moto) is addressed by path.
def _s3_config() -> Config:
    local = bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))
    return _CONFIG.merge(
        Config(signature_version="s3v4", s3={"addressing_style": "path"} if local else {"addressing_style": "virtual"})
    )


@cache
def _client(service: str) -> Any:
    return boto3.client(service, config=_s3_config() if service == "s3" else _CONFIG)  # type: ignore[call-overload]


def s3() -> S3Client:
    client: S3Client = _client("s3")
    return client


def ses() -> SESClient:
    client: SESClient = _client("ses")
    return client


def events() -> EventBridgeClient:
    client: EventBridgeClient = _client("events")
    return client


def stepfunctions() -> SFNClient:
    client: SFNClient = _client("stepfunctions")
    return client


@cache
def dynamodb() -> DynamoDBServiceResource:
    return boto3.resource("dynamodb", config=_CONFIG)


def reset() -> None:
    """Forget cached clients (tests and the local stack change endpoints)."""
    _client.cache_clear()
    dynamodb.cache_clear()
