"""The single DynamoDB table in general: records in and out, transactions retried while
they only met another one, batch reads, pages of an index. Feature packages build their
records' access on it (accounts/records, assets/records, downloads/records); carton.store
composes them.

Callers get typed records and domain errors, never botocore's ClientError: a failed
condition is a Conflict, a missing item a NotFound.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from boto3.dynamodb.conditions import ConditionBase, Key
from botocore.exceptions import ClientError
from pydantic import BaseModel

from carton.shared import aws
from carton.shared.config import settings
from carton.shared.errors import CartonError, error_code, transaction_conflicted
from carton.storage.schema import (
    LIST_SORT_KEY,
    TABLE_INDEXES,
    TABLE_KEYS,
    Index,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

PK, SK = TABLE_KEYS.partition_key, TABLE_KEYS.sort_key
# Index keys that are not record fields (the activity index sorts by the record's updated_at).
_KEY_ATTRIBUTES = {PK, SK, LIST_SORT_KEY} | {index.keys.partition_key for index in TABLE_INDEXES}
_BATCH_GET_LIMIT = 100

RecordT = TypeVar("RecordT", bound=BaseModel)


def item_of(record: BaseModel, **keys: str) -> dict[str, Any]:
    return {**record.model_dump(mode="json"), **keys}


def record_of(model: type[RecordT], item: dict[str, Any]) -> RecordT:
    return model.model_validate({k: v for k, v in item.items() if k not in _KEY_ATTRIBUTES})


@contextmanager
def refused_as(refusal: CartonError) -> Iterator[None]:
    """A write DynamoDB refused because its condition failed raises `refusal` (the domain's
    word for it: Conflict, NotFound) instead; any other error stays what it is."""
    try:
        yield
    except ClientError as error:
        if failed_condition(error):
            raise refusal from error
        raise


def failed_condition(error: ClientError) -> bool:
    code = error_code(error)
    if code == "ConditionalCheckFailedException":
        return True
    reasons = error.response.get("CancellationReasons", [])
    return code == "TransactionCanceledException" and any(
        reason.get("Code") == "ConditionalCheckFailed" for reason in reasons
    )


_TRANSACTION_ATTEMPTS = 6
_TRANSACTION_BACKOFF_SECONDS = 0.05
_UNPROCESSED_MAX_PAUSE_SECONDS = 2.0


def dynamo_value(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class TableLayer:
    def __init__(self, table: Table | None = None) -> None:
        self.table = table or aws.dynamodb().Table(settings().table_name)
        # The resource's own client: it takes and returns plain Python values.
        self.client = self.table.meta.client

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

    def batch_get(self, keys: Sequence[dict[str, str]], *, consistent: bool = False) -> Iterator[dict[str, Any]]:
        """Items for `keys` (missing ones skipped), in no particular order. Keys DynamoDB
        leaves unprocessed (throttled) are asked for again after a growing, jittered pause,
        as its documentation asks of BatchGetItem callers."""
        for start in range(0, len(keys), _BATCH_GET_LIMIT):
            chunk = list(keys[start : start + _BATCH_GET_LIMIT])
            request: dict[str, Any] = {self.table.name: {"Keys": chunk, "ConsistentRead": consistent}}
            for attempt in itertools.count():
                response = self.client.batch_get_item(RequestItems=request)
                yield from response["Responses"].get(self.table.name, [])
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                pause = min(_TRANSACTION_BACKOFF_SECONDS * 2**attempt, _UNPROCESSED_MAX_PAUSE_SECONDS)
                time.sleep(random.uniform(0, pause))  # noqa: S311 (jitter)

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
