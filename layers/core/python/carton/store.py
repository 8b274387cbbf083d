"""All DynamoDB access for Carton's single table.

Callers get typed records and domain errors, never botocore's ClientError:
a failed condition is a Conflict, a missing item a NotFound.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError
from pydantic import BaseModel

from carton import aws
from carton.config import settings
from carton.errors import Conflict, NotFound
from carton.models import (
    Asset,
    Download,
    DownloadError,
    DownloadState,
    Principal,
    Progress,
    Target,
    User,
    utcnow,
)
from carton.schema import BY_ACCOUNT_INDEX, TABLE_KEYS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

PK, SK = TABLE_KEYS.partition_key, TABLE_KEYS.sort_key
GSI_PK, GSI_SK = BY_ACCOUNT_INDEX.keys.partition_key, BY_ACCOUNT_INDEX.keys.sort_key
_BATCH_GET_LIMIT = 100

RecordT = TypeVar("RecordT", bound=BaseModel)


def _account(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def _download_key(account_id: str, download_id: str) -> dict[str, str]:
    return {PK: _account(account_id), SK: f"DOWNLOAD#{download_id}"}


def _asset_key(account_id: str, asset_id: str) -> dict[str, str]:
    return {PK: _account(account_id), SK: f"ASSET#{asset_id}"}


def _item(record: BaseModel, **keys: str) -> dict[str, Any]:
    return {**record.model_dump(mode="json"), **keys}


def _record(model: type[RecordT], item: dict[str, Any]) -> RecordT:
    return model.model_validate({k: v for k, v in item.items() if k not in (PK, SK, GSI_PK, GSI_SK)})


def _is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class Store:
    def __init__(self, table: Table | None = None) -> None:
        self.table = table or aws.dynamodb().Table(settings().table_name)

    # ---- accounts, users, tokens -----------------------------------------------------

    def put_account(self, account_id: str, name: str) -> None:
        self.table.put_item(Item={PK: _account(account_id), SK: "ACCOUNT", "account_id": account_id, "name": name})

    def put_user(self, user: User) -> None:
        self.table.put_item(Item=_item(user, **{PK: _account(user.account_id), SK: f"USER#{user.user_id}"}))

    def get_user(self, account_id: str, user_id: str) -> User:
        item = self.table.get_item(Key={PK: _account(account_id), SK: f"USER#{user_id}"}).get("Item")
        if item is None:
            raise NotFound("User not found")
        return _record(User, item)

    def put_token(self, token_hash: str, principal: Principal) -> None:
        self.table.put_item(
            Item=_item(principal, **{PK: f"TOKEN#{token_hash}", SK: "TOKEN"}),
        )

    def principal_for_token_hash(self, token_hash: str) -> Principal | None:
        item = self.table.get_item(Key={PK: f"TOKEN#{token_hash}", SK: "TOKEN"}).get("Item")
        return None if item is None else _record(Principal, item)

    # ---- assets ----------------------------------------------------------------------

    def put_asset(self, asset: Asset) -> None:
        self.table.put_item(Item=_item(asset, **_asset_key(asset.account_id, asset.asset_id)))

    def get_assets(self, account_id: str, asset_ids: Sequence[str]) -> dict[str, Asset]:
        """The live (not deleted) assets among `asset_ids`, by id; unknown ids are absent."""
        found: dict[str, Asset] = {}
        unique = list(dict.fromkeys(asset_ids))
        for start in range(0, len(unique), _BATCH_GET_LIMIT):
            keys = [_asset_key(account_id, asset_id) for asset_id in unique[start : start + _BATCH_GET_LIMIT]]
            for item in self._batch_get(keys):
                asset = _record(Asset, item)
                if not asset.deleted:
                    found[asset.asset_id] = asset
        return found

    def _batch_get(self, keys: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {self.table.name: {"Keys": keys}}
        while request:
            response = self.table.meta.client.batch_get_item(RequestItems=request)
            yield from response["Responses"].get(self.table.name, [])
            request = response.get("UnprocessedKeys") or {}

    # ---- downloads -------------------------------------------------------------------

    def create_download(self, download: Download) -> None:
        try:
            self.table.put_item(
                Item=_item(
                    download,
                    **_download_key(download.account_id, download.download_id),
                    **{
                        GSI_PK: f"{_account(download.account_id)}#DOWNLOADS",
                        GSI_SK: f"{download.created_at.isoformat()}#{download.download_id}",
                    },
                ),
                ConditionExpression=Attr(PK).not_exists(),
            )
        except ClientError as error:
            if _is_condition_failure(error):
                raise Conflict("A download with this id exists already") from error
            raise

    def get_download(self, account_id: str, download_id: str) -> Download:
        item = self.table.get_item(Key=_download_key(account_id, download_id), ConsistentRead=True).get("Item")
        if item is None:
            raise NotFound("Download not found", {"download_id": [f"no download {download_id!r}"]})
        return _record(Download, item)

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
        lost a race with DELETE or expiry changes nothing.
        """
        values: dict[str, Any] = {"updated_at": utcnow(), **changes}
        names = {f"#f{i}": field for i, field in enumerate(values)}
        expression_values: dict[str, Any] = {f":v{i}": _dynamo_value(value) for i, value in enumerate(values.values())}
        states = [state.value for state in expect]
        expression_values.update({f":s{i}": state for i, state in enumerate(states)})
        names["#state"] = "state"
        try:
            response = self.table.update_item(
                Key=_download_key(account_id, download_id),
                UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(values))),
                ConditionExpression=f"attribute_exists({PK}) AND #state IN ("
                + ", ".join(f":s{i}" for i in range(len(states)))
                + ")",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=expression_values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if _is_condition_failure(error):
                raise Conflict(
                    f"Download {download_id} is not in state {' or '.join(states)}",
                    {"state": [f"expected {' or '.join(states)}"]},
                ) from error
            raise
        return _record(Download, response["Attributes"])

    def record_progress(self, account_id: str, download_id: str, progress: Progress) -> Download:
        return self.update_download(account_id, download_id, expect=[DownloadState.PACKAGING], progress=progress)

    def fail_download(self, account_id: str, download_id: str, error: DownloadError) -> Download:
        return self.update_download(
            account_id,
            download_id,
            expect=[DownloadState.PENDING, DownloadState.PACKAGING],
            state=DownloadState.FAILED,
            error=error,
        )

    # ---- targets ---------------------------------------------------------------------

    def put_targets(self, account_id: str, targets: Iterable[Target]) -> None:
        with self.table.batch_writer() as batch:
            for target in targets:
                batch.put_item(Item=_item(target, **self._target_key(account_id, target.download_id, target.asset_id)))

    def targets(self, account_id: str, download_id: str) -> list[Target]:
        """Every target of a download, in archive order."""
        found: list[Target] = []
        query: dict[str, Any] = {
            "KeyConditionExpression": Key(PK).eq(f"{_account(account_id)}#DOWNLOAD#{download_id}")
            & Key(SK).begins_with("TARGET#"),
        }
        while True:
            response = self.table.query(**query)
            found.extend(_record(Target, item) for item in response["Items"])
            if "LastEvaluatedKey" not in response:
                break
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return sorted(found, key=lambda target: target.position)

    @staticmethod
    def _target_key(account_id: str, download_id: str, asset_id: str) -> dict[str, str]:
        return {PK: f"{_account(account_id)}#DOWNLOAD#{download_id}", SK: f"TARGET#{asset_id}"}


def _dynamo_value(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    return value
