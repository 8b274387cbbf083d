"""Facts about storage that CDK and the local stack must agree on, written once.

The DynamoDB table's key and index definitions, the S3 key prefixes, and which S3
events feed which queue all live here; `infra/` and `carton_local/` both read them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeySchema:
    partition_key: str
    sort_key: str


@dataclass(frozen=True)
class Index:
    name: str
    keys: KeySchema


TABLE_KEYS = KeySchema(partition_key="pk", sort_key="sk")

# List indexes share one sort key, "<created_at>#<download_id>", so that every list is
# ordered by creation and a cursor is just the last sort key a page ended on.
LIST_SORT_KEY = "gsk"
BY_ACCOUNT_INDEX = Index(name="by_account", keys=KeySchema("g_account", LIST_SORT_KEY))
BY_USER_INDEX = Index(name="by_user", keys=KeySchema("g_user", LIST_SORT_KEY))
BY_STATE_INDEX = Index(name="by_state", keys=KeySchema("g_state", LIST_SORT_KEY))
BY_USER_STATE_INDEX = Index(name="by_user_state", keys=KeySchema("g_user_state", LIST_SORT_KEY))
BY_TYPE_INDEX = Index(name="by_type", keys=KeySchema("g_type", LIST_SORT_KEY))
# On target items: the downloads that contain an asset.
BY_ASSET_INDEX = Index(name="by_asset", keys=KeySchema("g_asset", LIST_SORT_KEY))
# Sparse, across accounts: downloads not yet ended (pending, packaging) or being deleted,
# in a few shards, by when they last changed. The sweeper reads it, nothing else does.
BY_ACTIVITY_INDEX = Index(name="by_activity", keys=KeySchema("g_active", "updated_at"))
ACTIVITY_SHARDS = 8
TABLE_INDEXES: tuple[Index, ...] = (
    BY_ACCOUNT_INDEX,
    BY_USER_INDEX,
    BY_STATE_INDEX,
    BY_USER_STATE_INDEX,
    BY_TYPE_INDEX,
    BY_ASSET_INDEX,
    BY_ACTIVITY_INDEX,
)

# Objects that clients upload land here and are ingested as assets.
UPLOADS_PREFIX = "uploads/"
# Ingested asset bytes, keyed by account and asset id.
ASSETS_PREFIX = "assets/"
# Renditions and conversions, produced once per (asset, spec) and reused.
DERIVED_PREFIX = "derived/"
# Archive plans, read by the workers that assemble the archive (in the archives bucket).
PLANS_PREFIX = "plans/"


# Finished archives; their removal (lifecycle or DELETE) marks downloads expired.
ARCHIVES_PREFIX = "archives/"
# An archive whose download asked for a shorter life (expires_in_days) carries this tag; the
# archives bucket has a lifecycle rule per number of days shorter than the deployment's.
ARCHIVE_EXPIRY_TAG = "carton-expiry-days"


@dataclass(frozen=True)
class S3Feed:
    """S3 events under a prefix of a bucket, delivered to a queue read by a function."""

    name: str
    bucket: str  # "assets" or "archives"
    prefix: str
    events: tuple[str, ...]
    function: str
    # Messages per invocation: ingest reads whole files (up to 50 GiB within its 15 minutes),
    # so it takes one at a time; other feeds take the event source's usual 10.
    batch_size: int = 10


S3_FEEDS: tuple[S3Feed, ...] = (
    S3Feed(
        name="uploads",
        bucket="assets",
        prefix=UPLOADS_PREFIX,
        events=("s3:ObjectCreated:*",),
        function="ingest_upload",
        batch_size=1,
    ),
    S3Feed(
        name="archive-removals",
        bucket="archives",
        prefix=ARCHIVES_PREFIX,
        events=("s3:ObjectRemoved:*", "s3:LifecycleExpiration:*"),
        function="archive_removed",
    ),
)
# A message that fails this many times goes to the feed's dead-letter queue.
FEED_MAX_RECEIVES = 5
# Six times the longest feed function's timeout (infra.permissions.SIZING; a test checks it),
# as Lambda asks of an SQS event source: a message in flight is never handed to a second
# consumer while the first still works on it, and a throttled batch has time to be retried.
FEED_VISIBILITY_TIMEOUT_SECONDS = 5400

# Step Functions' statuses of a packaging execution that ended without succeeding: an
# EventBridge rule (on AWS) or a watcher (locally) hands these to this function, which
# fails a download the workflow itself could not.
ENDED_BADLY = ("FAILED", "TIMED_OUT", "ABORTED")
EXECUTION_ENDED_FUNCTION = "execution_ended"
# How often a failed hand-over to it is retried (EventBridge's target retries; the watcher's).
EXECUTION_ENDED_RETRIES = 8
# Finds downloads that did not end as they should (see carton.downloads.sweeper), on a schedule.
SWEEPER_FUNCTION = "sweep_downloads"
SWEEP_EVERY_MINUTES = 5
# A packaging download whose record has not changed for this long while its execution
# still runs is stalled: longer than any step may take, its retries included
# (tests/infra/test_definition.py derives that bound from the workflow definition).
STALLED_AFTER_SECONDS = 3600
# Invoked by operators with lambda:InvokeFunction (IAM), never over the API (`make account`).
ADMIN_FUNCTION = "admin"
# Stack outputs `make account` finds a deployed stack's API and admin function by.
API_URL_OUTPUT = "ApiUrl"
ADMIN_FUNCTION_OUTPUT = "AdminFunctionName"
