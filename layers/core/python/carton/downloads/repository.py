"""Downloads, their targets, list-index keys, counters and the activity index in the table."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from carton.downloads.items import (
    ACTIVITY_KEY,
    DELETING_FIELD,
    NOT_DELETING,
    activity_of,
    counters_of,
    download_index_keys,
    download_item,
)
from carton.downloads.models import Download, DownloadError, DownloadState, Target
from carton.downloads.target_repository import TargetRecords
from carton.shared.errors import Conflict, NotFound
from carton.shared.fields import utcnow
from carton.storage.counters import CounterRecords, counter_update
from carton.storage.keys import activity_partition, download_key
from carton.storage.schema import BY_ACTIVITY_INDEX
from carton.storage.table import PK, dynamo_value, failed_condition, record_of, refused_as


class DownloadRecords(TargetRecords, CounterRecords):
    def create_download(self, download: Download, targets: Sequence[Target] = ()) -> None:
        """The download (with its planned targets) and the account's counters, or nothing.

        Targets are written first: if that fails, no download points at them; if the
        download's transaction fails, they are removed again.
        """
        self.put_targets(download, targets)
        item = download_item(download)
        try:
            self._transact(
                [
                    {
                        "Put": {
                            "TableName": self.table.name,
                            "Item": item,
                            "ConditionExpression": f"attribute_not_exists({PK})",
                        }
                    },
                    counter_update(
                        download.account_id,
                        download.download_id,
                        dict.fromkeys(counters_of(download, download.state), 1),
                        self.table.name,
                    ),
                ]
            )
        except ClientError as error:
            self.delete_targets(download.account_id, download.download_id)
            if failed_condition(error):
                raise Conflict("A download with this id exists already") from error
            raise

    def get_download(self, account_id: str, download_id: str) -> Download:
        item = self.table.get_item(Key=download_key(account_id, download_id), ConsistentRead=True).get("Item")
        if item is None:
            raise NotFound("Download not found", {"download_id": [f"no download {download_id!r}"]})
        return record_of(Download, item)

    def update_download(
        self,
        account_id: str,
        download_id: str,
        *,
        expect: Iterable[DownloadState],
        **changes: Any,
    ) -> Download:
        """Set fields only while the download is in one of the `expect` states.

        Raises Conflict when it is not (or no longer exists), so a workflow step that
        lost a race with DELETE or expiry changes nothing. A change of state also moves
        the download between list indexes and counters, in one transaction.
        """
        allowed = list(expect)
        new_state = changes.get("state")
        if new_state is not None:
            try:
                current = self.get_download(account_id, download_id)
            except NotFound as gone:
                raise self._wrong_state(download_id, allowed) from gone
            if current.state not in allowed:
                raise self._wrong_state(download_id, allowed)
            if current.state != new_state:
                return self._change_state(current, DownloadState(new_state), changes)
            allowed = [current.state]
        return self._update(account_id, download_id, allowed, changes)

    def _update(
        self, account_id: str, download_id: str, allowed: Sequence[DownloadState], changes: dict[str, Any]
    ) -> Download:
        names, values, expression, condition = self._update_parts(allowed, {"updated_at": utcnow(), **changes})
        with refused_as(self._wrong_state(download_id, allowed)):
            response = self.table.update_item(
                Key=download_key(account_id, download_id),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        return record_of(Download, response["Attributes"])

    def _change_state(self, current: Download, state: DownloadState, changes: dict[str, Any]) -> Download:
        updated = current.model_copy(update={"updated_at": utcnow(), **changes, "state": state})
        fields = {**changes, "updated_at": updated.updated_at, "state": state}
        fields.update(download_index_keys(updated, state))
        active = activity_of(updated, state)
        if active is not None:
            fields[ACTIVITY_KEY] = active
        names, values, expression, condition = self._update_parts(
            [current.state], fields, remove=[ACTIVITY_KEY] if active is None else []
        )
        deltas = dict.fromkeys(counters_of(current, current.state), -1)
        for name in counters_of(updated, state):
            deltas[name] = deltas.get(name, 0) + 1
        with refused_as(self._wrong_state(current.download_id, [current.state])):
            self._transact(
                [
                    {
                        "Update": {
                            "TableName": self.table.name,
                            "Key": download_key(current.account_id, current.download_id),
                            "UpdateExpression": expression,
                            "ConditionExpression": condition,
                            "ExpressionAttributeNames": names,
                            "ExpressionAttributeValues": values,
                        }
                    },
                    counter_update(
                        current.account_id, current.download_id, {k: v for k, v in deltas.items() if v}, self.table.name
                    ),
                ]
            )
        return updated

    @staticmethod
    def _update_parts(
        allowed: Sequence[DownloadState], fields: dict[str, Any], remove: Sequence[str] = ()
    ) -> tuple[dict[str, str], dict[str, Any], str, str]:
        """SET `fields` (REMOVE `remove`) while the download is in an `allowed` state and
        no DELETE has begun on it."""
        names = {f"#f{i}": field for i, field in enumerate(fields)}
        names.update({f"#r{i}": field for i, field in enumerate(remove)})
        names["#state"] = "state"
        values: dict[str, Any] = {f":v{i}": dynamo_value(value) for i, value in enumerate(fields.values())}
        values.update({f":s{i}": state.value for i, state in enumerate(allowed)})
        expression = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
        if remove:
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
        condition = (
            f"attribute_exists({PK}) AND #state IN ("
            + ", ".join(f":s{i}" for i in range(len(allowed)))
            + f") AND {NOT_DELETING}"
        )
        names["#deleting"] = DELETING_FIELD
        values[":null"] = "NULL"
        return names, values, expression, condition

    @staticmethod
    def _wrong_state(download_id: str, allowed: Sequence[DownloadState]) -> Conflict:
        states = " or ".join(state.value for state in allowed)
        return Conflict(f"Download {download_id} is not {states}", {"state": [f"expected {states}"]})

    def add_progress(self, account_id: str, download_id: str, *, files: int, size: int) -> None:
        """Atomically add what one worker packed; workers run in parallel and never overwrite each other."""
        with refused_as(self._wrong_state(download_id, [DownloadState.PACKAGING])):
            self.table.update_item(
                Key=download_key(account_id, download_id),
                UpdateExpression="ADD progress.files_done :files, progress.bytes_done :bytes SET updated_at = :now",
                ConditionExpression=f"#state = :packaging AND {NOT_DELETING}",
                ExpressionAttributeNames={"#state": "state", "#deleting": DELETING_FIELD},
                ExpressionAttributeValues={
                    ":files": files,
                    ":bytes": size,
                    ":now": utcnow().isoformat(),
                    ":packaging": DownloadState.PACKAGING.value,
                    ":null": "NULL",
                },
            )

    def fail_download(self, account_id: str, download_id: str, error: DownloadError) -> Download:
        return self.update_download(
            account_id,
            download_id,
            expect=[DownloadState.PENDING, DownloadState.PACKAGING],
            state=DownloadState.FAILED,
            error=error,
        )

    def mark_deleting(self, download: Download) -> Download:
        """The first thing DELETE does: from now on no workflow step changes the download
        (every update is conditional on this mark's absence) and the sweeper watches it, so
        a DELETE interrupted halfway is finished by a retry or by the sweeper."""
        if download.deleting_since is not None:
            return download
        marked = download.model_copy(update={"deleting_since": utcnow(), "updated_at": utcnow()})
        active = activity_of(marked, marked.state)
        try:
            self.table.update_item(
                Key=download_key(download.account_id, download.download_id),
                UpdateExpression="SET #deleting = :since, updated_at = :now, #active = :active",
                ConditionExpression=f"attribute_exists({PK}) AND {NOT_DELETING}",
                ExpressionAttributeNames={"#deleting": DELETING_FIELD, "#active": ACTIVITY_KEY},
                ExpressionAttributeValues={
                    ":since": dynamo_value(marked.deleting_since),
                    ":now": dynamo_value(marked.updated_at),
                    ":active": active,
                    ":null": "NULL",
                },
            )
        except ClientError as error:
            if failed_condition(error):  # marked meanwhile (a concurrent DELETE), or gone
                return self.get_download(download.account_id, download.download_id)
            raise
        return marked

    def active_downloads(self, shard: int, changed_before: datetime) -> Iterator[tuple[str, str]]:
        """(account, download) of every download in this shard of the activity index that
        has not changed since `changed_before` (the index is eventually consistent: callers
        read the record again before acting)."""
        query: dict[str, Any] = {
            "IndexName": BY_ACTIVITY_INDEX.name,
            "KeyConditionExpression": Key(ACTIVITY_KEY).eq(activity_partition(shard))
            & Key(BY_ACTIVITY_INDEX.keys.sort_key).lt(changed_before.isoformat()),
            "ProjectionExpression": "account_id, download_id",
        }
        while True:
            response = self.table.query(**query)
            for item in response["Items"]:
                yield str(item["account_id"]), str(item["download_id"])
            if "LastEvaluatedKey" not in response:
                return
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def delete_download(self, download: Download) -> None:
        """Remove the download, its targets and its share of the counters."""
        self.delete_targets(download.account_id, download.download_id)
        with refused_as(
            Conflict(
                "The download changed while it was being deleted; try again",
                {"state": ["changed concurrently"]},
            )
        ):
            self._transact(
                [
                    {
                        "Delete": {
                            "TableName": self.table.name,
                            "Key": download_key(download.account_id, download.download_id),
                            "ConditionExpression": "#state = :state",
                            "ExpressionAttributeNames": {"#state": "state"},
                            "ExpressionAttributeValues": {":state": download.state.value},
                        }
                    },
                    counter_update(
                        download.account_id,
                        download.download_id,
                        dict.fromkeys(counters_of(download, download.state), -1),
                        self.table.name,
                    ),
                ]
            )
