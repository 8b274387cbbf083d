"""Every key of the table, built in one place: partitions and sort keys of each entity,
list-index keys, counters and the activity index (the schema's names: carton.storage.schema)."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from carton.models import Asset, Download, DownloadState
from carton.shared.media import media_group
from carton.storage.schema import (
    ACTIVITY_SHARDS,
    BY_ACCOUNT_INDEX,
    BY_ACTIVITY_INDEX,
    BY_ASSET_INDEX,
    BY_STATE_INDEX,
    BY_TYPE_INDEX,
    BY_USER_INDEX,
    BY_USER_STATE_INDEX,
    LIST_SORT_KEY,
    Index,
)
from carton.storage.table import PK, SK, item_of

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


def download_index_keys(download: Download, state: DownloadState) -> dict[str, str]:
    account, user = download.account_id, download.created_by
    return {
        LIST_SORT_KEY: list_sort_key(download.created_at, download.download_id),
        BY_ACCOUNT_INDEX.keys.partition_key: index_partition(BY_ACCOUNT_INDEX, account),
        BY_USER_INDEX.keys.partition_key: index_partition(BY_USER_INDEX, account, user=user),
        BY_STATE_INDEX.keys.partition_key: index_partition(BY_STATE_INDEX, account, state=state.value),
        BY_USER_STATE_INDEX.keys.partition_key: index_partition(
            BY_USER_STATE_INDEX, account, user=user, state=state.value
        ),
        BY_TYPE_INDEX.keys.partition_key: index_partition(BY_TYPE_INDEX, account, type=download.download_type),
    }


ACTIVE_STATES = (DownloadState.PENDING, DownloadState.PACKAGING)
ACTIVITY_KEY = BY_ACTIVITY_INDEX.keys.partition_key


def activity_partition(shard: int) -> str:
    return f"ACTIVE#{shard}"


def activity_of(download: Download, state: DownloadState) -> str | None:
    """The download's partition of the activity index while the sweeper must watch it:
    not yet ended, or being deleted; None once it needs no watching."""
    if state in ACTIVE_STATES or download.deleting_since is not None:
        return activity_partition(zlib.crc32(download.download_id.encode()) % ACTIVITY_SHARDS)
    return None


def download_item(download: Download) -> dict[str, Any]:
    """A download as stored: its fields, its key and its list-index keys."""
    item = item_of(
        download,
        **download_key(download.account_id, download.download_id),
        **download_index_keys(download, download.state),
    )
    if (active := activity_of(download, download.state)) is not None:
        item[ACTIVITY_KEY] = active
    return item


def assets_partition(index: Index, account_id: str, value: str = "") -> str:
    """Assets share the list indexes with downloads under their own partitions:
    by_account → all assets, by_type → per media type, by_state → per batch."""
    return f"{account_partition(account_id)}#ASSETS" + (f"#{index.name.upper()}#{value}" if value else "")


def asset_item(asset: Asset) -> dict[str, Any]:
    item = item_of(asset, **asset_key(asset.account_id, asset.asset_id))
    if not asset.deleted:
        item[LIST_SORT_KEY] = list_sort_key(asset.created_at, asset.asset_id)
        item[BY_ACCOUNT_INDEX.keys.partition_key] = assets_partition(BY_ACCOUNT_INDEX, asset.account_id)
        item[BY_TYPE_INDEX.keys.partition_key] = assets_partition(
            BY_TYPE_INDEX, asset.account_id, media_group(asset.content_type)
        )
        item[BY_STATE_INDEX.keys.partition_key] = assets_partition(
            BY_STATE_INDEX, asset.account_id, batch_text(asset.batch)
        )
    return item


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


def counters_of(download: Download, state: DownloadState) -> list[str]:
    user = download.created_by
    names = [
        counter_names(),
        counter_names(state=state.value),
        counter_names(user=user),
        counter_names(user=user, state=state.value),
        counter_names(download_type=download.download_type),
    ]
    return [name for name in names if name is not None]


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


# Set by DELETE (Download.deleting_since); stored as NULL, or absent on older records, until then.
DELETING_FIELD = "deleting_since"
NOT_DELETING = "(attribute_not_exists(#deleting) OR attribute_type(#deleting, :null))"
