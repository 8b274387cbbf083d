"""carton_local.hardening on moto itself: transactions stay all or nothing (and answer as
moto answers) without copying the table, instances no longer pile up, concurrent callers
get no errors, and an SQS long poll does not hold the other SQS calls."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends

from carton_local import hardening
from carton_local.lambdas import ACCOUNT, REGION
from carton_local.resources import create_table

TABLE = "hardening-test"


@pytest.fixture
def hardened() -> Iterator[None]:
    hardening.harden()
    try:
        yield
    finally:
        hardening.soften()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


def item(pk: str, sk: str, **values: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **{name: {"S": value} for name, value in values.items()}}


def put(pk: str, sk: str, condition: str | None = None, **values: str) -> dict[str, Any]:
    operation: dict[str, Any] = {"TableName": TABLE, "Item": item(pk, sk, **values)}
    if condition:
        operation["ConditionExpression"] = condition
    return {"Put": operation}


NEW = "attribute_not_exists(pk)"
UPDATE_A = {
    "Update": {
        "TableName": TABLE,
        "Key": {"pk": {"S": "A"}, "sk": {"S": "1"}},
        "UpdateExpression": "SET v = :v, extra = :e",
        "ExpressionAttributeValues": {":v": {"S": "changed"}, ":e": {"S": "added"}},
    }
}
DELETE_B = {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "B"}, "sk": {"S": "1"}}}}
CHECK_MISSING = {
    "ConditionCheck": {
        "TableName": TABLE,
        "Key": {"pk": {"S": "nobody"}, "sk": {"S": "1"}},
        "ConditionExpression": "attribute_exists(pk)",
    }
}
# Each a TransactWriteItems on a table holding A/1 and B/1 (v = "old").
SCENARIOS: dict[str, list[dict[str, Any]]] = {
    "all succeed": [put("C", "1", NEW, v="new"), UPDATE_A, DELETE_B],
    "a later condition fails": [put("C", "1", NEW, v="new"), UPDATE_A, DELETE_B, put("A", "2"), put("B", "1", NEW)],
    "the first condition fails": [put("A", "1", NEW, v="again"), put("D", "1", v="new"), UPDATE_A],
    "a condition check fails": [UPDATE_A, CHECK_MISSING, DELETE_B],
    "the same item twice": [UPDATE_A, put("C", "1"), put("A", "1", v="twice")],
    "an item without its key": [put("C", "1"), {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "E"}}}}],
    "an unknown table": [put("C", "1"), {"Put": {"TableName": "no-such-table", "Item": item("X", "1")}}],
    "an update of a new item, then a failure": [
        {
            "Update": {
                "TableName": TABLE,
                "Key": {"pk": {"S": "F"}, "sk": {"S": "1"}},
                "UpdateExpression": "SET v = :v",
                "ExpressionAttributeValues": {":v": {"S": "made"}},
            }
        },
        put("A", "1", NEW),
    ],
}


def outcome(transaction: list[dict[str, Any]]) -> tuple[Any, list[Any], int]:
    """(error code and cancellation reasons or None, the whole table after, Table objects alive)."""
    create_table(TABLE)
    client = boto3.client("dynamodb")
    client.put_item(TableName=TABLE, Item=item("A", "1", v="old"))
    client.put_item(TableName=TABLE, Item=item("B", "1", v="old"))
    table_before = dynamodb_backends[ACCOUNT][REGION].tables[TABLE]
    error: Any = None
    try:
        client.transact_write_items(TransactItems=transaction)
    except ClientError as failure:
        reasons = [reason.get("Code") for reason in failure.response.get("CancellationReasons", [])]
        error = (failure.response["Error"]["Code"], reasons)
    rows = sorted(
        (row["pk"]["S"], row["sk"]["S"], sorted((k, str(v)) for k, v in row.items()))
        for row in client.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    )
    identical = dynamodb_backends[ACCOUNT][REGION].tables[TABLE] is table_before
    return error, rows, int(identical)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_transaction_answers_and_rolls_back_as_moto_does_without_copying_the_table(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        as_moto = outcome(SCENARIOS[name])
    hardening.harden()
    try:
        with mock_aws():
            ours = outcome(SCENARIOS[name])
    finally:
        hardening.soften()
    assert ours[:2] == as_moto[:2]
    if as_moto[0] is not None:  # all or nothing: the table is exactly as before
        assert [row[:2] for row in ours[1]] == [("A", "1"), ("B", "1")]
        assert all(("v", "{'S': 'old'}") in row[2] and len(row[2]) == 3 for row in ours[1])
    assert ours[2] == 1  # the table is the same object afterwards (moto swaps in its copy)


def test_transactions_leave_no_table_copies_or_dead_items_alive(hardened: None, aws: None) -> None:
    create_table(TABLE)
    client = boto3.client("dynamodb")
    for number in range(100):
        client.transact_write_items(
            TransactItems=[put(f"U{number}", "USER", NEW), put(f"U{number}", "EMAIL", NEW), put("COUNT", "1")]
        )
    assert hardening.live_instances("dynamodb", "Table") == 1
    # 201 stored items; moto without the change holds 300 tables and ~30,000 item copies here.
    assert hardening.live_instances("dynamodb", "Item") < 300


def in_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(number: int) -> None:
        start.wait()
        try:
            work(number)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def test_concurrent_transactions_queries_and_updates_get_no_errors(hardened: None, aws: None) -> None:
    create_table(TABLE)
    client = boto3.client("dynamodb")

    def work(number: int) -> None:
        for round_ in range(25):
            client.transact_write_items(
                TransactItems=[
                    put(f"T{number}", f"{round_}", NEW, v="x" * 100),
                    {
                        "Update": {
                            "TableName": TABLE,
                            "Key": {"pk": {"S": "COUNTERS"}, "sk": {"S": f"{number % 2}"}},
                            "UpdateExpression": f"ADD n{number} :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                ]
            )
            client.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": "COUNTERS"}},
            )

    assert in_threads(8, work) == []
    counters = client.query(
        TableName=TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "COUNTERS"}}
    )["Items"]
    assert sum(int(value["N"]) for row in counters for name, value in row.items() if name.startswith("n")) == 200


def test_an_sqs_long_poll_does_not_hold_the_other_sqs_calls(hardened: None, aws: None) -> None:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="hardening-poll")["QueueUrl"]
    received: list[Any] = []
    poller = threading.Thread(
        target=lambda: received.extend(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=3).get("Messages", []))
    )
    poller.start()
    time.sleep(0.5)  # the poll is waiting now
    began = time.monotonic()
    sqs.send_message(QueueUrl=url, MessageBody="while polling")
    assert time.monotonic() - began < 1.0
    poller.join(timeout=10)
    assert [message["Body"] for message in received] == ["while polling"]


def test_the_service_lock_is_reentrant_and_can_be_set_down() -> None:
    lock = hardening.ServiceLock("test")
    seen: list[str] = []
    with lock, lock:
        assert lock.held()
        with lock.set_down():
            assert not lock.held()
            other = threading.Thread(target=lambda: (lock.acquire(), seen.append("other"), lock.release()))
            other.start()
            other.join(timeout=5)
        assert lock.held()
    assert not lock.held() and seen == ["other"]


def test_an_entry_with_two_operations_refuses_the_whole_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """As DynamoDB does: a malformed entry anywhere means nothing of the request is written."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    hardening.harden()
    try:
        with mock_aws():
            error, rows, _ = outcome([put("C", "1", v="new"), {**UPDATE_A, **DELETE_B}])
    finally:
        hardening.soften()
    assert error is not None
    assert [row[:2] for row in rows] == [("A", "1"), ("B", "1")]


def test_the_servers_dispatch_lists_motos_services_once(hardened: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's server walked its package directory on every request, under its global lock."""
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    listed = set(hardening._ORIGINAL_MODULE_LIST())
    calls = []
    monkeypatch.setattr("os.listdir", lambda path: calls.append(path) or [])
    assert set(backends.list_of_moto_modules()) == listed and {"s3", "dynamodb"} <= listed
    app = DomainDispatcherApplication(lambda *_: None)
    for _ in range(3):
        assert app.get_backend_for_host("s3") == "s3"
    assert calls == []
