"""All DynamoDB access for Carton's single table.

Callers get typed records and domain errors, never botocore's ClientError: a failed
condition is a Conflict, a missing item a NotFound.

Every download write keeps its list-index keys (see carton.storage.schema) and the account's
counters (one item, updated in the same transaction) in step, so lists can be paged
and counted without reading more than a page.
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from boto3.dynamodb.conditions import ConditionBase, Key
from botocore.exceptions import ClientError
from pydantic import BaseModel

from carton.models import (
    Account,
    Asset,
    Derived,
    Download,
    DownloadError,
    DownloadState,
    Principal,
    Target,
    TokenRecord,
    Upload,
    UploadState,
    User,
    utcnow,
)
from carton.shared import aws
from carton.shared.config import settings
from carton.shared.errors import Conflict, NotFound, error_code, transaction_conflicted
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
    TABLE_INDEXES,
    TABLE_KEYS,
    Index,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_dynamodb.type_defs import PutTypeDef, TransactWriteItemTypeDef

PK, SK = TABLE_KEYS.partition_key, TABLE_KEYS.sort_key
# Index keys that are not record fields (the activity index sorts by the record's updated_at).
_KEY_ATTRIBUTES = {PK, SK, LIST_SORT_KEY} | {index.keys.partition_key for index in TABLE_INDEXES}
_BATCH_GET_LIMIT = 100

RecordT = TypeVar("RecordT", bound=BaseModel)


def _account(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def download_key(account_id: str, download_id: str) -> dict[str, str]:
    return {PK: _account(account_id), SK: f"DOWNLOAD#{download_id}"}


def _asset_key(account_id: str, asset_id: str) -> dict[str, str]:
    return {PK: _account(account_id), SK: f"ASSET#{asset_id}"}


# An account's list counters are spread over shards, each download counting in one (by
# its id): downloads of one account changing state together touch different items, so
# their transactions do not cancel each other (a transaction conflicts on a shared item).
COUNTER_SHARDS = 8


def counters_key(account_id: str, shard: int) -> dict[str, str]:
    return {PK: _account(account_id), SK: f"COUNTERS#{shard}"}


def counter_shard(download_id: str) -> int:
    return zlib.crc32(download_id.encode()) % COUNTER_SHARDS


TARGET_PREFIX = "TARGET#"
USER_PREFIX = "USER#"


def account_partition(account_id: str) -> str:
    return _account(account_id)


def targets_partition(account_id: str, download_id: str) -> str:
    return f"{_account(account_id)}#DOWNLOAD#{download_id}"


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
    return "#".join([_account(account_id), *(f"{name.upper()}#{parts[name]}" for name in names)])


def _download_index_keys(download: Download, state: DownloadState) -> dict[str, str]:
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


def _activity(download: Download, state: DownloadState) -> str | None:
    """The download's partition of the activity index while the sweeper must watch it:
    not yet ended, or being deleted; None once it needs no watching."""
    if state in ACTIVE_STATES or download.deleting_since is not None:
        return activity_partition(zlib.crc32(download.download_id.encode()) % ACTIVITY_SHARDS)
    return None


def download_item(download: Download) -> dict[str, Any]:
    """A download as stored: its fields, its key and its list-index keys."""
    item = _item(
        download,
        **download_key(download.account_id, download.download_id),
        **_download_index_keys(download, download.state),
    )
    if (active := _activity(download, download.state)) is not None:
        item[ACTIVITY_KEY] = active
    return item


def assets_partition(index: Index, account_id: str, value: str = "") -> str:
    """Assets share the list indexes with downloads under their own partitions:
    by_account → all assets, by_type → per media type, by_state → per batch."""
    return f"{_account(account_id)}#ASSETS" + (f"#{index.name.upper()}#{value}" if value else "")


def asset_item(asset: Asset) -> dict[str, Any]:
    item = _item(asset, **_asset_key(asset.account_id, asset.asset_id))
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


def _counter_update(account_id: str, download_id: str, deltas: dict[str, int], table: str) -> TransactWriteItemTypeDef:
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


def _item(record: BaseModel, **keys: str) -> dict[str, Any]:
    return {**record.model_dump(mode="json"), **keys}


def record_of(model: type[RecordT], item: dict[str, Any]) -> RecordT:
    return model.model_validate({k: v for k, v in item.items() if k not in _KEY_ATTRIBUTES})


def _failed_condition(error: ClientError) -> bool:
    code = error_code(error)
    if code == "ConditionalCheckFailedException":
        return True
    reasons = error.response.get("CancellationReasons", [])
    return code == "TransactionCanceledException" and any(
        reason.get("Code") == "ConditionalCheckFailed" for reason in reasons
    )


# Set by DELETE (Download.deleting_since); stored as NULL, or absent on older records, until then.
_DELETING = "deleting_since"
_NOT_DELETING = "(attribute_not_exists(#deleting) OR attribute_type(#deleting, :null))"

_TRANSACTION_ATTEMPTS = 6
_TRANSACTION_BACKOFF_SECONDS = 0.05


def _dynamo_value(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class Store:
    def __init__(self, table: Table | None = None) -> None:
        self.table = table or aws.dynamodb().Table(settings().table_name)
        # The resource's own client: it takes and returns plain Python values.
        self.client = self.table.meta.client

    # ---- accounts, users, tokens -----------------------------------------------------

    def create_account(self, admin: User, token_hash: str, principal: Principal, record: TokenRecord) -> None:
        """The account, its first admin (with the e-mail marker) and the admin's key, in one
        transaction: a name already taken changes nothing."""
        account, name = _account(admin.account_id), admin.account_id
        new = f"attribute_not_exists({PK})"
        items: list[tuple[dict[str, Any], str | None]] = [
            ({PK: account, SK: "ACCOUNT", "account_id": name, "name": name, "created_at": utcnow().isoformat()}, new),
            (_item(admin, **{PK: account, SK: f"USER#{admin.user_id}"}), new),
            ({PK: account, SK: f"EMAIL#{admin.email.casefold()}", "user_id": admin.user_id}, new),
            (_item(principal, **{PK: f"TOKEN#{token_hash}", SK: "TOKEN"}), new),
            (_item(record, **{PK: account, SK: f"TOKENREF#{record.token_id}"}), None),
        ]
        puts: list[TransactWriteItemTypeDef] = []
        for item, condition in items:
            put: PutTypeDef = {"TableName": self.table.name, "Item": item}
            if condition:
                put["ConditionExpression"] = condition
            puts.append({"Put": put})
        try:
            self._transact(puts)
        except ClientError as error:
            if _failed_condition(error):
                raise Conflict(
                    "That account exists already", {"account": [f"{name!r} is taken; choose another name"]}
                ) from error
            raise

    def put_user(self, user: User) -> None:
        """The user and a marker that keeps e-mail addresses unique within the account."""
        try:
            self._transact(
                [
                    {
                        "Put": {
                            "TableName": self.table.name,
                            "Item": _item(user, **{PK: _account(user.account_id), SK: f"USER#{user.user_id}"}),
                            "ConditionExpression": f"attribute_not_exists({PK})",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table.name,
                            "Item": {
                                PK: _account(user.account_id),
                                SK: f"EMAIL#{user.email.casefold()}",
                                "user_id": user.user_id,
                            },
                            "ConditionExpression": f"attribute_not_exists({PK})",
                        }
                    },
                ]
            )
        except ClientError as error:
            if _failed_condition(error):
                raise Conflict("That user exists already", {"email": ["already used in this account"]}) from error
            raise

    def get_account(self, account_id: str) -> Account:
        item = self.table.get_item(Key={PK: _account(account_id), SK: "ACCOUNT"}).get("Item")
        if item is None:
            raise NotFound("Account not found", {"account": [f"no account {account_id!r}"]})
        return record_of(Account, item)

    def set_notify_domains(self, account_id: str, domains: list[str]) -> Account:
        try:
            response = self.table.update_item(
                Key={PK: _account(account_id), SK: "ACCOUNT"},
                UpdateExpression="SET notify_domains = :domains",
                ConditionExpression=f"attribute_exists({PK})",
                ExpressionAttributeValues={":domains": domains},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if _failed_condition(error):
                raise NotFound("Account not found", {"account": [f"no account {account_id!r}"]}) from error
            raise
        return record_of(Account, response["Attributes"])

    def mail_sent(self, account_id: str, day: str) -> int:
        """Recipients e-mailed on `day` (YYYY-MM-DD, UTC)."""
        item = self.table.get_item(Key={PK: _account(account_id), SK: f"MAILDAY#{day}"}).get("Item") or {}
        return int(str(item.get("sent", 0)))

    def take_mail_quota(self, account_id: str, day: str, recipients: int, per_day: int) -> bool:
        """Count `recipients` against the day's quota, atomically; False (nothing counted)
        when they would go over it."""
        if recipients > per_day:
            return False
        try:
            self.table.update_item(
                Key={PK: _account(account_id), SK: f"MAILDAY#{day}"},
                UpdateExpression="ADD sent :n",
                ConditionExpression="attribute_not_exists(sent) OR sent <= :room",
                ExpressionAttributeValues={":n": recipients, ":room": per_day - recipients},
            )
        except ClientError as error:
            if _failed_condition(error):
                return False
            raise
        return True

    def _transact(self, items: Sequence[TransactWriteItemTypeDef]) -> None:
        """TransactWriteItems, run again (with jittered backoff) while DynamoDB cancels it
        only for a conflict with another transaction in flight on the same item — a
        transient fault the SDK does not retry. A failed condition is never retried."""
        for attempt in range(_TRANSACTION_ATTEMPTS):
            try:
                self.client.transact_write_items(TransactItems=list(items))
                return
            except ClientError as error:
                if not transaction_conflicted(error) or attempt == _TRANSACTION_ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0, _TRANSACTION_BACKOFF_SECONDS * 2**attempt))  # noqa: S311 (jitter)

    def has_email(self, account_id: str, email: str) -> bool:
        """Whether a user of the account has this e-mail address."""
        key = {PK: _account(account_id), SK: f"EMAIL#{email.casefold()}"}
        return "Item" in self.table.get_item(Key=key)

    def get_user(self, account_id: str, user_id: str) -> User:
        item = self.table.get_item(Key={PK: _account(account_id), SK: f"USER#{user_id}"}).get("Item")
        if item is None:
            raise NotFound("User not found", {"user_id": [f"no user {user_id!r}"]})
        return record_of(User, item)

    def put_token(self, token_hash: str, principal: Principal, record: TokenRecord) -> None:
        """The key (by hash, for the authorizer) and its record (by id, for admins)."""
        self._transact(
            [
                {
                    "Put": {
                        "TableName": self.table.name,
                        "Item": _item(principal, **{PK: f"TOKEN#{token_hash}", SK: "TOKEN"}),
                    }
                },
                {
                    "Put": {
                        "TableName": self.table.name,
                        "Item": _item(record, **{PK: _account(record.account_id), SK: f"TOKENREF#{record.token_id}"}),
                    }
                },
            ]
        )

    def get_token(self, account_id: str, token_id: str) -> TokenRecord:
        item = self.table.get_item(Key={PK: _account(account_id), SK: f"TOKENREF#{token_id}"}).get("Item")
        if item is None:
            raise NotFound("Token not found", {"token_id": [f"no key {token_id!r} in this account"]})
        return record_of(TokenRecord, item)

    def delete_token(self, record: TokenRecord) -> None:
        self._transact(
            [
                {"Delete": {"TableName": self.table.name, "Key": {PK: f"TOKEN#{record.token_hash}", SK: "TOKEN"}}},
                {
                    "Delete": {
                        "TableName": self.table.name,
                        "Key": {PK: _account(record.account_id), SK: f"TOKENREF#{record.token_id}"},
                    }
                },
            ]
        )

    def principal_for_token_hash(self, token_hash: str) -> Principal | None:
        item = self.table.get_item(Key={PK: f"TOKEN#{token_hash}", SK: "TOKEN"}).get("Item")
        return None if item is None else record_of(Principal, item)

    # ---- assets ----------------------------------------------------------------------

    def put_asset(self, asset: Asset) -> None:
        """Write an asset record as it is (its list-index keys only while it is live)."""
        self.table.put_item(Item=asset_item(asset))

    def create_asset(self, asset: Asset) -> None:
        """The asset and its content marker, or Conflict when the same bytes won the race."""
        marker = {PK: _account(asset.account_id), SK: f"SHA256#{asset.sha256}", "asset_id": asset.asset_id}
        try:
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
        except ClientError as error:
            if _failed_condition(error):
                raise Conflict("The same bytes are an asset already", {"art": ["duplicate"]}) from error
            raise

    def asset_with_sha256(self, account_id: str, sha256: str) -> Asset | None:
        """The live asset holding exactly these bytes, if any (byte-for-byte de-duplication)."""
        marker = self.table.get_item(Key={PK: _account(account_id), SK: f"SHA256#{sha256}"}, ConsistentRead=True).get(
            "Item"
        )
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
                        "Key": {PK: _account(asset.account_id), SK: f"SHA256#{asset.sha256}"},
                    }
                },
            ]
        )
        return gone

    def get_asset(self, account_id: str, asset_id: str) -> Asset | None:
        item = self.table.get_item(Key=_asset_key(account_id, asset_id), ConsistentRead=True).get("Item")
        return None if item is None else record_of(Asset, item)

    def get_derived(self, account_id: str, asset_id: str, spec_id: str) -> Derived | None:
        item = self.table.get_item(Key={PK: _account(account_id), SK: f"DERIVED#{asset_id}#{spec_id}"}).get("Item")
        return None if item is None else record_of(Derived, item)

    def put_derived(self, derived: Derived) -> None:
        self.table.put_item(
            Item=_item(
                derived, **{PK: _account(derived.account_id), SK: f"DERIVED#{derived.asset_id}#{derived.spec_id}"}
            )
        )

    # ---- uploads ---------------------------------------------------------------------

    def put_upload(self, upload: Upload) -> None:
        self.table.put_item(Item=_item(upload, **{PK: _account(upload.account_id), SK: f"UPLOAD#{upload.upload_id}"}))

    def settle_upload(self, upload: Upload) -> Upload:
        """Write the upload's outcome if it is still pending; else (another delivery of its
        event settled it first) the outcome that is there."""
        try:
            self.table.put_item(
                Item=_item(upload, **{PK: _account(upload.account_id), SK: f"UPLOAD#{upload.upload_id}"}),
                ConditionExpression="#state = :pending",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":pending": UploadState.PENDING.value},
            )
        except ClientError as error:
            if _failed_condition(error):
                return self.get_upload(upload.account_id, upload.upload_id)
            raise
        return upload

    def get_upload(self, account_id: str, upload_id: str) -> Upload:
        item = self.table.get_item(Key={PK: _account(account_id), SK: f"UPLOAD#{upload_id}"}, ConsistentRead=True).get(
            "Item"
        )
        if item is None:
            raise NotFound("Upload not found", {"upload_id": [f"no upload {upload_id!r}"]})
        return record_of(Upload, item)

    def get_assets(self, account_id: str, asset_ids: Sequence[str]) -> dict[str, Asset]:
        """The live (not deleted) assets among `asset_ids`, by id; unknown ids are absent."""
        found: dict[str, Asset] = {}
        for item in self.batch_get([_asset_key(account_id, asset_id) for asset_id in dict.fromkeys(asset_ids)]):
            asset = record_of(Asset, item)
            if not asset.deleted:
                found[asset.asset_id] = asset
        return found

    def batch_get(self, keys: Sequence[dict[str, str]]) -> Iterator[dict[str, Any]]:
        """Items for `keys` (missing ones skipped), in no particular order."""
        for start in range(0, len(keys), _BATCH_GET_LIMIT):
            request: dict[str, Any] = {self.table.name: {"Keys": list(keys[start : start + _BATCH_GET_LIMIT])}}
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                yield from response["Responses"].get(self.table.name, [])
                request = response.get("UnprocessedKeys") or {}

    # ---- downloads -------------------------------------------------------------------

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
                    _counter_update(
                        download.account_id,
                        download.download_id,
                        dict.fromkeys(counters_of(download, download.state), 1),
                        self.table.name,
                    ),
                ]
            )
        except ClientError as error:
            self._delete_targets(download.account_id, download.download_id)
            if _failed_condition(error):
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
        try:
            response = self.table.update_item(
                Key=download_key(account_id, download_id),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if _failed_condition(error):
                raise self._wrong_state(download_id, allowed) from error
            raise
        return record_of(Download, response["Attributes"])

    def _change_state(self, current: Download, state: DownloadState, changes: dict[str, Any]) -> Download:
        updated = current.model_copy(update={"updated_at": utcnow(), **changes, "state": state})
        fields = {**changes, "updated_at": updated.updated_at, "state": state}
        fields.update(_download_index_keys(updated, state))
        active = _activity(updated, state)
        if active is not None:
            fields[ACTIVITY_KEY] = active
        names, values, expression, condition = self._update_parts(
            [current.state], fields, remove=[ACTIVITY_KEY] if active is None else []
        )
        deltas = dict.fromkeys(counters_of(current, current.state), -1)
        for name in counters_of(updated, state):
            deltas[name] = deltas.get(name, 0) + 1
        try:
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
                    _counter_update(
                        current.account_id, current.download_id, {k: v for k, v in deltas.items() if v}, self.table.name
                    ),
                ]
            )
        except ClientError as error:
            if _failed_condition(error):
                raise self._wrong_state(current.download_id, [current.state]) from error
            raise
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
        values: dict[str, Any] = {f":v{i}": _dynamo_value(value) for i, value in enumerate(fields.values())}
        values.update({f":s{i}": state.value for i, state in enumerate(allowed)})
        expression = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
        if remove:
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
        condition = (
            f"attribute_exists({PK}) AND #state IN ("
            + ", ".join(f":s{i}" for i in range(len(allowed)))
            + f") AND {_NOT_DELETING}"
        )
        names["#deleting"] = _DELETING
        values[":null"] = "NULL"
        return names, values, expression, condition

    @staticmethod
    def _wrong_state(download_id: str, allowed: Sequence[DownloadState]) -> Conflict:
        states = " or ".join(state.value for state in allowed)
        return Conflict(f"Download {download_id} is not {states}", {"state": [f"expected {states}"]})

    def add_progress(self, account_id: str, download_id: str, *, files: int, size: int) -> None:
        """Atomically add what one worker packed; workers run in parallel and never overwrite each other."""
        try:
            self.table.update_item(
                Key=download_key(account_id, download_id),
                UpdateExpression="ADD progress.files_done :files, progress.bytes_done :bytes SET updated_at = :now",
                ConditionExpression=f"#state = :packaging AND {_NOT_DELETING}",
                ExpressionAttributeNames={"#state": "state", "#deleting": _DELETING},
                ExpressionAttributeValues={
                    ":files": files,
                    ":bytes": size,
                    ":now": utcnow().isoformat(),
                    ":packaging": DownloadState.PACKAGING.value,
                    ":null": "NULL",
                },
            )
        except ClientError as error:
            if _failed_condition(error):
                raise self._wrong_state(download_id, [DownloadState.PACKAGING]) from error
            raise

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
        active = _activity(marked, marked.state)
        try:
            self.table.update_item(
                Key=download_key(download.account_id, download.download_id),
                UpdateExpression="SET #deleting = :since, updated_at = :now, #active = :active",
                ConditionExpression=f"attribute_exists({PK}) AND {_NOT_DELETING}",
                ExpressionAttributeNames={"#deleting": _DELETING, "#active": ACTIVITY_KEY},
                ExpressionAttributeValues={
                    ":since": _dynamo_value(marked.deleting_since),
                    ":now": _dynamo_value(marked.updated_at),
                    ":active": active,
                    ":null": "NULL",
                },
            )
        except ClientError as error:
            if _failed_condition(error):  # marked meanwhile (a concurrent DELETE), or gone
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
        self._delete_targets(download.account_id, download.download_id)
        try:
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
                    _counter_update(
                        download.account_id,
                        download.download_id,
                        dict.fromkeys(counters_of(download, download.state), -1),
                        self.table.name,
                    ),
                ]
            )
        except ClientError as error:
            if _failed_condition(error):
                raise Conflict(
                    "The download changed while it was being deleted; try again",
                    {"state": ["changed concurrently"]},
                ) from error
            raise

    def counters(self, account_id: str) -> dict[str, int]:
        """The account's counters, summed over their shards (one consistent BatchGet)."""
        keys = [counters_key(account_id, shard) for shard in range(COUNTER_SHARDS)]
        request: dict[str, Any] = {self.table.name: {"Keys": keys, "ConsistentRead": True}}
        totals: dict[str, int] = {}
        while request:
            response = self.client.batch_get_item(RequestItems=request)
            for item in response["Responses"].get(self.table.name, []):
                for key, value in item.items():
                    if key not in (PK, SK):
                        totals[key] = totals.get(key, 0) + int(str(value))
            request = response.get("UnprocessedKeys") or {}
        return totals

    def query_index(
        self,
        index: Index | None,
        partition: str,
        *,
        forward: bool,
        lower: str | None,
        upper: str | None,
        limit: int,
        start: dict[str, Any] | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One page of a list index (or, with index None, of the table itself), between
        sort keys `lower` and `upper` (inclusive)."""
        partition_key, sort_key = (index.keys.partition_key, index.keys.sort_key) if index else (PK, SK)
        condition: ConditionBase = Key(partition_key).eq(partition)
        sort = Key(sort_key)
        if lower is not None and upper is not None:
            condition &= sort.between(lower, upper)
        elif lower is not None:
            condition &= sort.gte(lower)
        elif upper is not None:
            condition &= sort.lte(upper)
        query: dict[str, Any] = {"KeyConditionExpression": condition, "ScanIndexForward": forward, "Limit": limit}
        if index is not None:
            query["IndexName"] = index.name
        if start:
            query["ExclusiveStartKey"] = start
        response = self.table.query(**query)
        return response["Items"], response.get("LastEvaluatedKey")

    # ---- targets ---------------------------------------------------------------------

    def put_targets(self, download: Download, targets: Iterable[Target]) -> None:
        sort_key = list_sort_key(download.created_at, download.download_id)
        asset_index = BY_ASSET_INDEX.keys.partition_key
        with self.table.batch_writer() as batch:
            for target in targets:
                batch.put_item(
                    Item=_item(
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

    def _delete_targets(self, account_id: str, download_id: str) -> None:
        with self.table.batch_writer() as batch:
            for target in self.targets(account_id, download_id):
                batch.delete_item(Key=self._target_key(account_id, download_id, target.asset_id))

    @staticmethod
    def _target_key(account_id: str, download_id: str, asset_id: str) -> dict[str, str]:
        return {PK: targets_partition(account_id, download_id), SK: f"{TARGET_PREFIX}{asset_id}"}
