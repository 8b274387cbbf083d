"""Counters of an account's list items, kept beside them in the table (one transaction
moves an item and its counts), so that a list answers its count without walking it."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from carton.storage.keys import account_partition
from carton.storage.table import PK, SK, TableLayer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

# An account's list counters are spread over shards, each download counting in one (by
# its id): downloads of one account changing state together touch different items, so
# their transactions do not cancel each other (a transaction conflicts on a shared item).
COUNTER_SHARDS = 8


def counters_key(account_id: str, shard: int) -> dict[str, str]:
    return {PK: account_partition(account_id), SK: f"COUNTERS#{shard}"}


def counter_shard(download_id: str) -> int:
    return zlib.crc32(download_id.encode()) % COUNTER_SHARDS


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


class CounterRecords(TableLayer):
    def counters(self, account_id: str) -> dict[str, int]:
        """The account's counters, summed over their shards (one consistent BatchGet)."""
        keys = [counters_key(account_id, shard) for shard in range(COUNTER_SHARDS)]
        totals: dict[str, int] = {}
        for item in self.batch_get(keys, consistent=True):
            for key, value in item.items():
                if key not in (PK, SK):
                    totals[key] = totals.get(key, 0) + int(str(value))
        return totals
