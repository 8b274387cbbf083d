"""Which assets a selection means: read from one index (a tag's items, the file names, a
batch's or a media type's list), the other filters checked on what it yields. Never a scan
of the account's assets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from carton.assets.models import Asset
from carton.downloads.api import Selection
from carton.shared.errors import ValidationFailed
from carton.shared.media import media_group
from carton.storage.keys import assets_partition, batch_text, name_sort_key, names_partition, tag_partition
from carton.storage.schema import BY_STATE_INDEX, BY_TYPE_INDEX, Index
from carton.storage.table import record_of
from carton.store import Store

PAGE = 1000


def _pages(store: Store, index: Index | None, partition: str, lower: str | None, upper: str | None) -> Iterator[Any]:
    start: dict[str, Any] | None = None
    while True:
        items, start = store.query_index(
            index, partition, forward=True, lower=lower, upper=upper, limit=PAGE, start=start
        )
        yield items
        if start is None:
            return


def _matches(selection: Selection) -> Callable[[Asset], bool]:
    prefix = selection.filename_prefix.casefold() if selection.filename_prefix else None

    def matches(asset: Asset) -> bool:
        tags = {tag for translation in asset.translations for tag in translation.tags}
        return not asset.deleted and all(
            (
                selection.tag is None or selection.tag in tags,
                prefix is None or asset.filename.casefold().startswith(prefix),
                selection.batch is None or batch_text(asset.batch) == batch_text(selection.batch),
                selection.media_type is None or media_group(asset.content_type) == selection.media_type,
            )
        )

    return matches


def _candidates(account_id: str, selection: Selection, store: Store) -> Iterator[list[Asset]]:
    """Pages of assets from the most selective index the selection names."""
    if selection.tag is not None or selection.filename_prefix is not None:
        if selection.tag is not None:
            pages = _pages(store, None, tag_partition(account_id, selection.tag), None, None)
        else:
            prefix = name_sort_key(selection.filename_prefix or "")
            # The highest code point: DynamoDB orders sort keys by their UTF-8 bytes.
            pages = _pages(store, None, names_partition(account_id), prefix, prefix + "\U0010ffff")
        for items in pages:
            found = store.get_assets(account_id, [str(item["asset_id"]) for item in items])
            yield [found[str(item["asset_id"])] for item in items if str(item["asset_id"]) in found]
        return
    if selection.batch is not None:
        index, value = BY_STATE_INDEX, batch_text(selection.batch)
    else:
        index, value = BY_TYPE_INDEX, str(selection.media_type)
    for items in _pages(store, index, assets_partition(index, account_id, value), None, None):
        yield [record_of(Asset, item) for item in items]


def select_assets(account_id: str, selection: Selection, store: Store, limit: int) -> list[str]:
    """The ids of the live assets the selection matches, in the order of the index read;
    more than `limit` is refused, naming the limit."""
    matches = _matches(selection)
    chosen: list[str] = []
    for page in _candidates(account_id, selection, store):
        chosen.extend(asset.asset_id for asset in page if matches(asset))
        if len(chosen) > limit:
            raise ValidationFailed(
                "Selection too large", {"selection": [f"matches more than {limit:,} assets; narrow it"]}
            )
    return list(dict.fromkeys(chosen))
