"""Assets, their renditions and uploads in the table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from carton.assets.models import Asset, Derived, Upload, UploadState
from carton.shared.errors import Conflict, NotFound
from carton.shared.fields import utcnow
from carton.shared.media import media_group
from carton.storage.keys import (
    asset_key,
    assets_partition,
    batch_text,
    content_key,
    derived_key,
    list_sort_key,
    name_sort_key,
    names_partition,
    tag_partition,
    upload_item_key,
)
from carton.storage.schema import BY_ACCOUNT_INDEX, BY_STATE_INDEX, BY_TYPE_INDEX, LIST_SORT_KEY
from carton.storage.table import PK, SK, TableLayer, failed_condition, item_of, record_of, refused_as


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


def selection_keys(asset: Asset) -> set[tuple[str, str]]:
    """The (partition, sort key) items a live asset is found by in selections: one per tag,
    one by file name."""
    if asset.deleted:
        return set()
    tags = {tag for translation in asset.translations for tag in translation.tags}
    found = {(tag_partition(asset.account_id, tag), asset.asset_id) for tag in tags}
    found.add((names_partition(asset.account_id), name_sort_key(asset.filename, asset.asset_id)))
    return found


class AssetRecords(TableLayer):
    def put_asset(self, asset: Asset, previous: Asset | None = None) -> None:
        """Write an asset record as it is (its list-index keys only while it is live), and the
        items selections find it by, changed from `previous`'s."""
        self.table.put_item(Item=asset_item(asset))
        self._sync_selection_keys(previous, asset)

    def _sync_selection_keys(self, previous: Asset | None, current: Asset) -> None:
        """Eventually consistent with the record (written just after it): a selection made
        in between reads the asset's previous tags and name."""
        before = selection_keys(previous) if previous is not None else set()
        after = selection_keys(current)
        with self.table.batch_writer() as batch:
            for partition, sort in sorted(before - after):
                batch.delete_item(Key={PK: partition, SK: sort})
            # Every current item, not only the new ones: a write that failed before is repaired.
            for partition, sort in sorted(after):
                batch.put_item(Item={PK: partition, SK: sort, "asset_id": current.asset_id})

    def create_asset(self, asset: Asset) -> None:
        """The asset and its content marker, or Conflict when the same bytes won the race."""
        marker = {**content_key(asset.account_id, asset.sha256), "asset_id": asset.asset_id}
        with refused_as(Conflict("The same bytes are an asset already", {"art": ["duplicate"]})):
            self._transact(
                [
                    {
                        "Put": {
                            "TableName": self.table.name,
                            "Item": marker,
                            "ConditionExpression": f"attribute_not_exists({PK})",
                        }
                    },
                    {"Put": {"TableName": self.table.name, "Item": asset_item(asset)}},
                ]
            )
        self._sync_selection_keys(None, asset)

    def asset_with_sha256(self, account_id: str, sha256: str) -> Asset | None:
        """The live asset holding exactly these bytes, if any (byte-for-byte de-duplication)."""
        marker = self.table.get_item(Key=content_key(account_id, sha256), ConsistentRead=True).get("Item")
        if marker is None:
            return None
        return self.get_assets(account_id, [str(marker["asset_id"])]).get(str(marker["asset_id"]))

    def delete_asset(self, asset: Asset) -> Asset:
        """Mark the asset deleted (GET answers 410 from now on) and free its bytes' marker."""
        gone = asset.model_copy(update={"deleted": True, "updated_at": utcnow()})
        self._transact(
            [
                {"Put": {"TableName": self.table.name, "Item": asset_item(gone)}},
                {
                    "Delete": {
                        "TableName": self.table.name,
                        "Key": content_key(asset.account_id, asset.sha256),
                    }
                },
            ]
        )
        self._sync_selection_keys(asset, gone)
        return gone

    def get_asset(self, account_id: str, asset_id: str) -> Asset | None:
        item = self.table.get_item(Key=asset_key(account_id, asset_id), ConsistentRead=True).get("Item")
        return None if item is None else record_of(Asset, item)

    def get_derived(self, account_id: str, asset_id: str, spec_id: str) -> Derived | None:
        item = self.table.get_item(Key=derived_key(account_id, asset_id, spec_id)).get("Item")
        return None if item is None else record_of(Derived, item)

    def put_derived(self, derived: Derived) -> None:
        self.table.put_item(
            Item=item_of(
                derived,
                **derived_key(derived.account_id, derived.asset_id, derived.spec_id),
            )
        )

    # ---- uploads ---------------------------------------------------------------------

    def put_upload(self, upload: Upload) -> None:
        self.table.put_item(Item=item_of(upload, **upload_item_key(upload.account_id, upload.upload_id)))

    def settle_upload(self, upload: Upload) -> Upload:
        """Write the upload's outcome if it is still pending; else (another delivery of its
        event settled it first) the outcome that is there."""
        try:
            self.table.put_item(
                Item=item_of(upload, **upload_item_key(upload.account_id, upload.upload_id)),
                ConditionExpression="#state = :pending",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":pending": UploadState.PENDING.value},
            )
        except ClientError as error:
            if failed_condition(error):
                return self.get_upload(upload.account_id, upload.upload_id)
            raise
        return upload

    def get_upload(self, account_id: str, upload_id: str) -> Upload:
        item = self.table.get_item(Key=upload_item_key(account_id, upload_id), ConsistentRead=True).get("Item")
        if item is None:
            raise NotFound("Upload not found", {"upload_id": [f"no upload {upload_id!r}"]})
        return record_of(Upload, item)

    def get_assets(self, account_id: str, asset_ids: Sequence[str]) -> dict[str, Asset]:
        """The live (not deleted) assets among `asset_ids`, by id; unknown ids are absent."""
        found: dict[str, Asset] = {}
        for item in self.batch_get([asset_key(account_id, asset_id) for asset_id in dict.fromkeys(asset_ids)]):
            asset = record_of(Asset, item)
            if not asset.deleted:
                found[asset.asset_id] = asset
        return found
