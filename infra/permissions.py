"""What each function may do: exact actions, no wildcards, scoped to key prefixes."""

from __future__ import annotations

from carton.schema import ARCHIVES_PREFIX, ASSETS_PREFIX, UPLOADS_PREFIX

TABLE_ACTIONS: dict[str, list[str]] = {
    "authorizer": ["dynamodb:GetItem"],
    "create_download": [
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ],
    "get_download": ["dynamodb:GetItem"],
    "download_file": ["dynamodb:GetItem"],
    "workflow_prepare": [
        "dynamodb:UpdateItem",
        "dynamodb:BatchGetItem",
        "dynamodb:BatchWriteItem",
    ],
    "workflow_package": [
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "dynamodb:BatchWriteItem",
    ],
    "workflow_complete": ["dynamodb:GetItem", "dynamodb:UpdateItem"],
    "workflow_fail": ["dynamodb:GetItem", "dynamodb:UpdateItem"],
    "ingest_upload": ["dynamodb:PutItem"],
    "archive_removed": ["dynamodb:UpdateItem"],
}

# function -> [(bucket, key prefix, actions)]; HeadObject is covered by s3:GetObject,
# the multipart calls (create, upload part, complete) by s3:PutObject.
OBJECT_ACTIONS: dict[str, list[tuple[str, str, list[str]]]] = {
    "download_file": [("archives", ARCHIVES_PREFIX, ["s3:GetObject"])],
    "workflow_package": [
        ("assets", ASSETS_PREFIX, ["s3:GetObject"]),
        ("archives", ARCHIVES_PREFIX, ["s3:PutObject", "s3:AbortMultipartUpload"]),
    ],
    "workflow_complete": [("archives", ARCHIVES_PREFIX, ["s3:GetObject"])],
    "workflow_fail": [("archives", ARCHIVES_PREFIX, ["s3:AbortMultipartUpload"])],
    "ingest_upload": [
        ("assets", UPLOADS_PREFIX, ["s3:GetObject", "s3:DeleteObject"]),
        ("assets", ASSETS_PREFIX, ["s3:GetObject", "s3:PutObject"]),
    ],
}

# Functions that start the packaging workflow.
STARTS_WORKFLOW = ("create_download",)

# Memory (MB) and timeout (s) where the default (256 MB, 29 s: API Gateway's limit) won't do.
SIZING: dict[str, tuple[int, int]] = {
    # 1,769 MB is one full vCPU: packaging is CRC and network bound.
    "workflow_package": (1769, 900),
    "ingest_upload": (1024, 300),
    "archive_removed": (256, 60),
}
DEFAULT_SIZING = (256, 29)
