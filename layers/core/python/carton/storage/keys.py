"""Every key of the table, built in one place: partitions and sort keys of each entity,
list-index keys, counters and the activity index (the schema's names: carton.storage.schema)."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from carton.storage.schema import (
    BY_ACCOUNT_INDEX,
    BY_ASSET_INDEX,
    BY_STATE_INDEX,
    BY_TYPE_INDEX,
    BY_USER_INDEX,
    BY_USER_STATE_INDEX,
    Index,
)
from carton.storage.table import PK, SK

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


def account_partition(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def download_key(account_id: str, download_id: str) -> dict[str, str]:
    return {PK: account_partition(account_id), SK: f"DOWNLOAD#{download_id}"}


def asset_key(account_id: str, asset_id: str) -> dict[str, str]:
    return {PK: account_partition(account_id), SK: f"ASSET#{asset_id}"}


# An account's list counters are spread over shards, each download counting in one (by
# its id): downloads of one account changing state together touch different items, so
# their transactions do not cancel each other (a transaction conflicts on a shared item).
COUNTER_SHARDS = 8


def counters_key(account_id: str, shard: int) -> dict[str, str]:
    return {PK: account_partition(account_id), SK: f"COUNTERS#{shard}"}


def counter_shard(download_id: str) -> int:
    return zlib.crc32(download_id.encode()) % COUNTER_SHARDS


TARGET_PREFIX = "TARGET#"
USER_PREFIX = "USER#"


def targets_partition(account_id: str, download_id: str) -> str:
    return f"{account_partition(account_id)}#DOWNLOAD#{download_id}"


def list_sort_key(created_at: datetime, download_id: str) -> str:
    return f"{created_at.strftime('%Y-%m-%dT%H:%M:%SZ')}#{download_id}"


# ---- list index keys and counters: one definition each -----------------------------


def index_partition(index: Index, account_id: str, **parts: str) -> str:
    """The partition value of a list index, e.g. by_user_state(acme, user=u1, state=complete)."""
    names = {
        BY_ACCOUNT_INDEX.name: (),
        BY_USER_INDEX.name: ("user",),
        BY_STATE_INDEX.name: ("state",),
        BY_USER_STATE_INDEX.name: ("user", "state"),
        BY_TYPE_INDEX.name: ("type",),
        BY_ASSET_INDEX.name: ("asset",),
    }[index.name]
    return "#".join([account_partition(account_id), *(f"{name.upper()}#{parts[name]}" for name in names)])


def activity_partition(shard: int) -> str:
    return f"ACTIVE#{shard}"


def assets_partition(index: Index, account_id: str, value: str = "") -> str:
    """Assets share the list indexes with downloads under their own partitions:
    by_account → all assets, by_type → per media type, by_state → per batch."""
    return f"{account_partition(account_id)}#ASSETS" + (f"#{index.name.upper()}#{value}" if value else "")


def batch_text(batch: datetime) -> str:
    """A batch as OrbitKit writes it: ISO 8601 UTC with milliseconds."""
    return batch.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{batch.microsecond // 1000:03d}Z"


def counter_names(*, user: str | None = None, state: str | None = None, download_type: str | None = None) -> str | None:
    """The counter that holds how many downloads match, or None if none is kept for that mix."""
    if download_type is not None:
        return f"type#{download_type}" if user is None and state is None else None
    if user is not None and state is not None:
        return f"user#{user}#state#{state}"
    if user is not None:
        return f"user#{user}"
    if state is not None:
        return f"state#{state}"
    return "all"


def counter_update(account_id: str, download_id: str, deltas: dict[str, int], table: str) -> TransactWriteItemTypeDef:
    names = {f"#c{i}": name for i, name in enumerate(deltas)}
    values = {f":d{i}": delta for i, delta in enumerate(deltas.values())}
    return {
        "Update": {
            "TableName": table,
            "Key": counters_key(account_id, counter_shard(download_id)),
            "UpdateExpression": "ADD " + ", ".join(f"#c{i} :d{i}" for i in range(len(deltas))),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }
