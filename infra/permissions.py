"""What each function may do: exact actions, no wildcards, scoped to key prefixes."""

from __future__ import annotations

from carton.storage.schema import (
    ADMIN_FUNCTION,
    ARCHIVES_PREFIX,
    ASSETS_PREFIX,
    DERIVED_PREFIX,
    EXECUTION_ENDED_FUNCTION,
    PLANS_PREFIX,
    SWEEPER_FUNCTION,
    UPLOADS_PREFIX,
)

# Transactions need no action of their own: each item needs its Put/Update/Delete.
_READ = ["dynamodb:GetItem"]
_STATE_CHANGE = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
TABLE_ACTIONS: dict[str, list[str]] = {
    "authorizer": _READ,
    "create_download": [
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:Query",
        "dynamodb:DeleteItem",  # an idempotency record whose request failed
    ],
    "list_downloads": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"],
    "get_download": _READ,
    "delete_download": [
        "dynamodb:GetItem",
        "dynamodb:DeleteItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "dynamodb:BatchWriteItem",
    ],
    "download_file": _READ,
    # ConditionCheckItem: the link is written only while its download is complete.
    "create_link": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:ConditionCheckItem"],
    "list_links": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"],
    "delete_link": ["dynamodb:GetItem", "dynamodb:UpdateItem"],
    # Looks the link up by its token's hash, then its download; counts the use.
    "open_shared_link": ["dynamodb:GetItem", "dynamodb:UpdateItem"],
    "list_targets": ["dynamodb:GetItem", "dynamodb:Query"],
    "get_target": _READ,
    "workflow_prepare": [*_STATE_CHANGE, "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:PutItem"],
    "workflow_pack": ["dynamodb:UpdateItem"],
    "workflow_complete": [*_STATE_CHANGE, "dynamodb:Query", "dynamodb:BatchWriteItem"],
    "workflow_fail": _STATE_CHANGE,
    EXECUTION_ENDED_FUNCTION: _STATE_CHANGE,
    # Reads the activity index; fails, resumes or finishes deleting what it finds there.
    SWEEPER_FUNCTION: [
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    ],
    "list_users": ["dynamodb:GetItem", "dynamodb:Query"],
    "get_user": _READ,
    "get_account": _READ,
    "replace_account": ["dynamodb:GetItem", "dynamodb:UpdateItem"],
    "create_user": ["dynamodb:PutItem"],
    "create_token": ["dynamodb:GetItem", "dynamodb:PutItem"],
    "delete_token": ["dynamodb:GetItem", "dynamodb:DeleteItem"],
    # BatchWriteItem: the items selections find an asset by (its tags, its name).
    "ingest_upload": ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:BatchWriteItem"],
    "import_asset": ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:BatchWriteItem"],
    "create_upload": ["dynamodb:PutItem"],
    "get_upload": _READ,
    "sign_upload_parts": _READ,
    "complete_upload": _READ,
    "list_assets": ["dynamodb:Query"],
    "get_asset": _READ,
    "replace_asset": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:BatchWriteItem"],
    "delete_asset": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"],
    "asset_downloads": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"],
    "archive_removed": _STATE_CHANGE,
    # And the account's daily e-mail count; PutItem: the share link the e-mail carries.
    "workflow_notify": [*_STATE_CHANGE, "dynamodb:PutItem", "dynamodb:ConditionCheckItem"],
    # Invoked by operators (IAM), not over the API: creates accounts, users and keys.
    ADMIN_FUNCTION: ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
}
# Functions that announce downloads: SES e-mail from the configured identity, EventBridge events.
NOTIFIES = ("workflow_notify",)
# Functions that query the list indexes (table ARN + /index/*).
# create_download: a selection by batch or media type reads the assets' list indexes.
QUERIES_INDEXES = ("list_downloads", "list_assets", "asset_downloads", "create_download", SWEEPER_FUNCTION)

# What carton.packaging.leftovers removes: unfinished uploads, the plan, an archive never completed.
_REMOVES_LEFTOVERS = [
    ("archives", ARCHIVES_PREFIX, ["s3:AbortMultipartUpload", "s3:DeleteObject"]),
    ("archives", PLANS_PREFIX, ["s3:DeleteObject"]),
]

# function -> [(bucket, key prefix, actions)]; HeadObject is covered by s3:GetObject,
# the multipart calls (create, upload part, complete) by s3:PutObject.
OBJECT_ACTIONS: dict[str, list[tuple[str, str, list[str]]]] = {
    "download_file": [("archives", ARCHIVES_PREFIX, ["s3:GetObject"])],
    "open_shared_link": [("archives", ARCHIVES_PREFIX, ["s3:GetObject"])],
    "delete_download": _REMOVES_LEFTOVERS,
    # Renditions and conversions are made from originals while the archive is planned;
    # every source is checked (HEAD), the upload opened and the plan written.
    "workflow_prepare": [
        ("assets", ASSETS_PREFIX, ["s3:GetObject"]),
        ("assets", DERIVED_PREFIX, ["s3:GetObject", "s3:PutObject"]),
        # PutObjectTagging: the upload of a download with its own life carries its expiry tag.
        ("archives", ARCHIVES_PREFIX, ["s3:PutObject", "s3:AbortMultipartUpload", "s3:PutObjectTagging"]),
        ("archives", PLANS_PREFIX, ["s3:PutObject"]),
    ],
    # UploadPart and UploadPartCopy: s3:PutObject on the archive, s3:GetObject on the source.
    "workflow_pack": [
        ("assets", ASSETS_PREFIX, ["s3:GetObject"]),
        ("assets", DERIVED_PREFIX, ["s3:GetObject"]),
        ("archives", ARCHIVES_PREFIX, ["s3:PutObject"]),
        ("archives", PLANS_PREFIX, ["s3:GetObject"]),
    ],
    # DeleteObject: an archive that S3 assembled but that fails the plan's checks goes.
    "workflow_complete": [
        (
            "archives",
            ARCHIVES_PREFIX,
            ["s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:DeleteObject"],
        ),
        ("archives", PLANS_PREFIX, ["s3:GetObject", "s3:DeleteObject"]),
    ],
    # DeleteObject: an archive a failed `complete` assembled goes with the failure.
    "workflow_fail": _REMOVES_LEFTOVERS,
    # Runs the failure step's code when an execution ended without it.
    EXECUTION_ENDED_FUNCTION: _REMOVES_LEFTOVERS,
    SWEEPER_FUNCTION: _REMOVES_LEFTOVERS,
    "ingest_upload": [
        ("assets", UPLOADS_PREFIX, ["s3:GetObject", "s3:DeleteObject"]),
        # AbortMultipartUpload: a copy in parts (over 5 GiB) that failed halfway.
        ("assets", ASSETS_PREFIX, ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]),
    ],
    "import_asset": [("assets", ASSETS_PREFIX, ["s3:PutObject", "s3:DeleteObject"])],
    # Signing a presigned PUT needs the right to PUT; CreateMultipartUpload, UploadPart and
    # CompleteMultipartUpload are s3:PutObject too.
    "create_upload": [("assets", UPLOADS_PREFIX, ["s3:PutObject"])],
    "sign_upload_parts": [("assets", UPLOADS_PREFIX, ["s3:PutObject"])],
    # GetObject (HEAD): a retried completion finds the file the first one assembled.
    "complete_upload": [("assets", UPLOADS_PREFIX, ["s3:PutObject", "s3:GetObject"])],
    "delete_asset": [("assets", ASSETS_PREFIX, ["s3:DeleteObject"])],
}

# Buckets where a missing key must read as 404, not 403: S3 only says "no such key" to a
# caller that may also list the bucket. Every reader (s3:GetObject, which HEAD needs too)
# gets s3:ListBucket, limited with s3:prefix to the prefixes it reads.
MISSING_IS_404 = ("assets", "archives")

# function -> [(bucket, actions on the bucket itself)]: a rerun prepare (after a timeout)
# and the failure step find the uploads an earlier attempt opened on the archive's key.
BUCKET_ACTIONS: dict[str, list[tuple[str, list[str]]]] = {
    "workflow_prepare": [("archives", ["s3:ListBucketMultipartUploads"])],
    # carton.packaging.leftovers finds uploads an attempt opened but did not live to record.
    **{
        name: [("archives", ["s3:ListBucketMultipartUploads"])]
        for name in ("workflow_fail", EXECUTION_ENDED_FUNCTION, SWEEPER_FUNCTION, "delete_download")
    },
}


def listed_prefixes(name: str) -> dict[str, list[str]]:
    """bucket -> the key prefixes function `name` reads there, for buckets in MISSING_IS_404."""
    listed: dict[str, list[str]] = {}
    for bucket, prefix, actions in OBJECT_ACTIONS.get(name, []):
        if bucket in MISSING_IS_404 and "s3:GetObject" in actions:
            listed.setdefault(bucket, []).append(prefix)
    return listed


# What functions may do to executions of the packaging workflow.
WORKFLOW_ACTIONS: dict[str, list[str]] = {
    "create_download": ["states:StartExecution"],
    "delete_download": ["states:StopExecution"],
    SWEEPER_FUNCTION: ["states:StartExecution", "states:DescribeExecution", "states:StopExecution"],
}

# Memory (MB) and timeout (s) where the default (256 MB, 29 s: API Gateway's limit) won't do.
# A workflow step's TimeoutSeconds is its function's timeout (infra/definition.py).
SIZING: dict[str, tuple[int, int]] = {
    # 1,769 MB is one full vCPU: packaging is CRC and network bound.
    "workflow_pack": (1769, 900),
    "workflow_prepare": (1769, 900),
    # The worst case: lists 10,000 parts and writes 10,000 targets (tuned from a benchmark).
    "workflow_complete": (1769, 900),
    # Reads every byte of an upload (checksums) at a full vCPU: 50 GiB within 15 minutes.
    "ingest_upload": (1769, 900),
    # URL imports hold up to 100 MB in memory.
    "import_asset": (1024, 29),
    "archive_removed": (256, 60),
    # One pass over every download that should have moved on (a handful, normally).
    SWEEPER_FUNCTION: (512, 300),
}
DEFAULT_SIZING = (256, 29)
