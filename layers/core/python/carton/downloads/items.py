"""A download as the table holds it: its item, its list-index keys, the counters it counts
in, and its place in the activity index while the sweeper must watch it."""

from __future__ import annotations

import zlib
from typing import Any

from carton.downloads.models import Download, DownloadState
from carton.storage.counters import counter_names
from carton.storage.keys import activity_partition, download_key, index_partition, list_sort_key
from carton.storage.schema import (
    ACTIVITY_SHARDS,
    BY_ACCOUNT_INDEX,
    BY_ACTIVITY_INDEX,
    BY_STATE_INDEX,
    BY_TYPE_INDEX,
    BY_USER_INDEX,
    BY_USER_STATE_INDEX,
    LIST_SORT_KEY,
)
from carton.storage.table import item_of


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


# Set by DELETE (Download.deleting_since); stored as NULL, or absent on older records, until then.
DELETING_FIELD = "deleting_since"
NOT_DELETING = "(attribute_not_exists(#deleting) OR attribute_type(#deleting, :null))"
