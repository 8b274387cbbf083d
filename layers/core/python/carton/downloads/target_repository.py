"""A download's targets in the table: one item per asset, what it is in the archive."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from boto3.dynamodb.conditions import Key

from carton.downloads.models import Download, Target
from carton.shared.errors import NotFound
from carton.storage.keys import TARGET_PREFIX, index_partition, list_sort_key, targets_partition
from carton.storage.schema import BY_ASSET_INDEX, LIST_SORT_KEY
from carton.storage.table import PK, SK, TableLayer, item_of, record_of


class TargetRecords(TableLayer):
    def put_targets(self, download: Download, targets: Iterable[Target]) -> None:
        sort_key = list_sort_key(download.created_at, download.download_id)
        asset_index = BY_ASSET_INDEX.keys.partition_key
        with self.table.batch_writer() as batch:
            for target in targets:
                batch.put_item(
                    Item=item_of(
                        target,
                        **self._target_key(download.account_id, target.download_id, target.asset_id),
                        **{
                            LIST_SORT_KEY: sort_key,
                            asset_index: index_partition(BY_ASSET_INDEX, download.account_id, asset=target.asset_id),
                        },
                    )
                )

    def targets(self, account_id: str, download_id: str) -> list[Target]:
        """Every target of a download, in archive order."""
        found: list[Target] = []
        query: dict[str, Any] = {
            "KeyConditionExpression": Key(PK).eq(targets_partition(account_id, download_id))
            & Key(SK).begins_with(TARGET_PREFIX),
        }
        while True:
            response = self.table.query(**query)
            found.extend(record_of(Target, item) for item in response["Items"])
            if "LastEvaluatedKey" not in response:
                break
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return sorted(found, key=lambda target: target.position)

    def get_target(self, account_id: str, download_id: str, asset_id: str) -> Target:
        item = self.table.get_item(Key=self._target_key(account_id, download_id, asset_id)).get("Item")
        if item is None:
            raise NotFound("Target not found", {"asset_id": [f"{asset_id!r} is not part of this download"]})
        return record_of(Target, item)

    def delete_targets(self, account_id: str, download_id: str) -> None:
        with self.table.batch_writer() as batch:
            for target in self.targets(account_id, download_id):
                batch.delete_item(Key=self._target_key(account_id, download_id, target.asset_id))

    @staticmethod
    def _target_key(account_id: str, download_id: str, asset_id: str) -> dict[str, str]:
        return {PK: targets_partition(account_id, download_id), SK: f"{TARGET_PREFIX}{asset_id}"}
