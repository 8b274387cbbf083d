"""What the local stack changes in the embedded emulator (moto) at start-up, in this process
only; moto's files stay as they are.

1. **One lock per service.** moto's backends are plain dicts and lists with no locking, and
   the local stack calls them from many threads (the gateway's, the Lambda Invoke
   endpoint's, the SQS pollers', moto's own Step Functions executions): DynamoDB's
   transactions then fail with `RuntimeError: dictionary changed size during iteration`,
   and SQS can lose a message (`Queue.delete_message` rebuilds the message list while an S3
   notification appends to it). Every request into DynamoDB, S3 and SQS runs under its
   service's lock, response included (a reply is built from live items); SQS's backend
   methods take the lock too, because S3 notifications call them directly. An SQS long poll
   sets its lock down while it waits. Locks are always taken in the order DynamoDB, S3,
   SQS (S3 → SQS is the only nesting moto does), so they cannot deadlock.
2. **No transaction copies the table.** moto's TransactWriteItems deep-copies every table it
   touches, once per item of the transaction, to roll back on failure: time and memory
   grow with the table (quadratic over a run). Here a transaction keeps a journal of the
   items it touches (a copy of each, before it changes) and rolls back from the journal:
   still all or nothing, and the table stays the same object.
3. **Instance tracking is weak.** Every object of a moto model class (`BaseModel`) is
   appended to its class's `instances_tracked` list when it is created and never removed:
   every table copy of (2), every DynamoDB item ever written or overwritten, every S3 object
   version and multipart part (bytes included) stays alive for the life of the process. The
   lists are only read by moto's reset and its debugging dashboard; here they hold weak
   references, so what moto itself no longer uses is freed.

4. **The server's dispatch reads the disk once.** moto's server finds the backend of every
   request under one global lock, and on the way lists moto's package directory (an
   `isdir` per service, ~150 system calls) each time. Every S3 call of the functions goes
   through that server (presigned URLs must be real), so with a few hundred downloads
   packing at once thousands of threads queue on the lock while its holder walks the disk
   (300 downloads: none ended after four minutes). Here the list is read once.

`harden()` applies all four (idempotent); `soften()` undoes them (tests).
"""

from __future__ import annotations

import copy
import functools
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import Any

from moto import backends as moto_backends
from moto.core.common_models import BaseModel
from moto.core.model_instances import model_data
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.s3.responses import S3Response
from moto.sqs.models import Queue, SQSBackend
from moto.sqs.responses import SQSResponse

# DynamoDB and SQS actions that change nothing a snapshot keeps (anything else counts as a change).
_READ_ACTIONS = ("Get", "BatchGet", "TransactGet", "Query", "Scan", "Describe", "List", "Receive")


class ServiceLock:
    """A re-entrant lock that its holder can set down entirely while it waits."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self) -> None:
        me = threading.get_ident()
        if self._owner == me:
            self._depth += 1
            return
        self._lock.acquire()
        self._owner, self._depth = me, 1

    def release(self) -> None:
        if self._owner != threading.get_ident():
            raise RuntimeError(f"the {self.name} lock is not held by this thread")
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._lock.release()

    def __enter__(self) -> ServiceLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()

    def held(self) -> bool:
        return self._owner == threading.get_ident()

    @contextmanager
    def set_down(self) -> Iterator[None]:
        """Release the lock (however deeply held) for the block, then hold it again as before."""
        me = threading.get_ident()
        if self._owner != me:
            yield
            return
        depth = self._depth
        self._owner, self._depth = None, 0
        self._lock.release()
        try:
            yield
        finally:
            self._lock.acquire()
            self._owner, self._depth = me, depth


@dataclass
class Changes:
    """How many changing requests the locked services have served (the state saver's clock)."""

    count: int = 0


DYNAMODB_LOCK = ServiceLock("dynamodb")
S3_LOCK = ServiceLock("s3")
SQS_LOCK = ServiceLock("sqs")
CHANGES = Changes()


@contextmanager
def all_services() -> Iterator[None]:
    """Every service lock, in the one order (a consistent snapshot of the emulator)."""
    with DYNAMODB_LOCK, S3_LOCK, SQS_LOCK:
        yield


# ---- instance tracking ------------------------------------------------------------------


class WeakInstances:
    """Stands in for a model class's `instances_tracked` list, with weak references: moto
    appends to it and iterates it; an object nobody else holds is freed and leaves it."""

    def __init__(self, initial: Any = ()) -> None:
        self._refs: dict[int, weakref.ref[Any]] = {}
        self._strong: list[Any] = []  # objects that take no weak reference (none in moto 5.2)
        for instance in initial:
            self.append(instance)

    def append(self, instance: Any) -> None:
        key = id(instance)

        def forget(ref: weakref.ref[Any], key: int = key) -> None:
            if self._refs.get(key) is ref:
                self._refs.pop(key, None)

        try:
            self._refs[key] = weakref.ref(instance, forget)
        except TypeError:
            self._strong.append(instance)

    def _alive(self) -> list[Any]:
        alive = [instance for ref in self._refs.copy().values() if (instance := ref()) is not None]
        return alive + self._strong

    def __iter__(self) -> Iterator[Any]:
        return iter(self._alive())

    def __len__(self) -> int:
        return len(self._alive())

    def clear(self) -> None:
        self._refs.clear()
        self._strong.clear()


def _weakly_tracked_new(cls: type[Any], *args: Any, **kwargs: Any) -> Any:
    instance = super(BaseModel, cls).__new__(cls)
    tracked = cls.__dict__.get("instances_tracked")
    if not isinstance(tracked, WeakInstances):  # a new class, or moto's reset put a list back
        tracked = WeakInstances(tracked or ())
        cls.instances_tracked = tracked
    tracked.append(instance)
    return instance


def live_instances(service: str, name: str) -> int:
    """How many objects of a moto model class are alive (e.g. "dynamodb", "Table")."""
    model = model_data.get(service, {}).get(name)
    return len(getattr(model, "instances_tracked", ()))


def _track_weakly() -> None:
    """The tracking lists of the model classes defined so far, made weak (later classes and
    lists that moto's reset puts back are made weak by their first new instance)."""
    for models in model_data.values():
        for model in models.values():
            tracked = model.__dict__.get("instances_tracked")
            if not isinstance(tracked, WeakInstances):
                model.instances_tracked = WeakInstances(tracked or ())  # type: ignore[attr-defined]


# ---- DynamoDB transactions ----------------------------------------------------------------


@dataclass
class _Before:
    """An item as it was before a transaction touched it (None: it did not exist)."""

    table: Table
    hash_key: DynamoType
    range_key: DynamoType | None
    item: Item | None

    def restore(self) -> None:
        items: Any = self.table.items
        if self.range_key is None:
            if self.item is None:
                items.pop(self.hash_key, None)
            else:
                items[self.hash_key] = self.item
            return
        stored = items.get(self.hash_key)
        if self.item is not None:
            items[self.hash_key][self.range_key] = self.item
        elif stored is not None:
            stored.pop(self.range_key, None)
            if not stored:
                items.pop(self.hash_key, None)


def _roll_back(journal: list[_Before]) -> None:
    for before in reversed(journal):
        before.restore()


_ORIGINAL_TRANSACT = DynamoDBBackend.transact_write_items


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto 5.2's TransactWriteItems (same checks, order and errors), rolled back from a
    journal of the touched items instead of deep copies of whole tables."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    touched = {next(iter(item.values())).get("TableName") for item in transact_items if item}
    if any(self.tables[name].stream_shard is not None for name in touched if name in self.tables):
        # A stream records every write: moto's own rollback (whole copies) takes those back too.
        _ORIGINAL_TRANSACT(self, transact_items)
        return

    journal: list[_Before] = []
    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    # As DynamoDB does, a malformed entry refuses the whole request before anything is written.
    if any(len(item) > 1 for item in transact_items):
        raise TransactWriteSingleOpException
    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")
            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            check_unicity(table_name, key)

            current = self.get_item(table_name, key)
            if op_type != "ConditionCheck":
                table = self.get_table(table_name)
                hash_key, range_key = self.get_keys_value(table, key)
                journal.append(_Before(table, hash_key, range_key, copy.deepcopy(current)))
            if condition_expression is not None:
                condition_op = get_filter_expression(
                    condition_expression, expression_attribute_names, expression_attribute_values
                )
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type == "Put":
                self.put_item(
                    table_name,
                    op["Item"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            _roll_back(journal)
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore[arg-type]
        except Exception as e:  # as moto: any other failure cancels the transaction with its name
            errors.append((type(e).__name__, str(e), original_item))  # type: ignore[arg-type]

    if any(code is not None for code, _, _ in errors):
        _roll_back(journal)
        raise TransactionCanceledException(errors)


# ---- locks --------------------------------------------------------------------------------


def _locked(
    function: Callable[..., Any], lock: ServiceLock, changes: Callable[..., bool] | None = None
) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with lock:
            if changes is not None and changes(*args, **kwargs):
                CHANGES.count += 1
            return function(*args, **kwargs)

    return wrapper


def _changing_action(response: Any, *args: Any, **kwargs: Any) -> bool:
    try:
        action = str(response._get_action())
    except Exception:  # an unreadable request: count it, moto answers it with an error
        return True
    return not action.startswith(_READ_ACTIONS)


def _changing_method(response: Any, request: Any, *args: Any, **kwargs: Any) -> bool:
    return str(getattr(request, "method", "")) not in ("GET", "HEAD")


def _wait_for_messages(self: Queue, timeout: int) -> None:
    with SQS_LOCK.set_down():  # a long poll must not hold every other SQS call (and S3's events)
        _ORIGINAL_WAIT(self, timeout)


_ORIGINAL_WAIT = Queue.wait_for_messages
_patches: list[tuple[type[Any] | ModuleType, str, Any]] = []


_ORIGINAL_MODULE_LIST = moto_backends.list_of_moto_modules


@functools.cache
def _moto_modules() -> frozenset[str]:
    """What moto.backends.list_of_moto_modules yields (its package folders): fixed for the
    life of the process."""
    return frozenset(_ORIGINAL_MODULE_LIST())


def _patch(owner: type[Any] | ModuleType, name: str, value: Any) -> None:
    _patches.append((owner, name, owner.__dict__.get(name, _MISSING)))
    setattr(owner, name, value)


_MISSING = object()


def _lock_backend_methods(backend: type[Any], lock: ServiceLock) -> None:
    """Every public method of a backend class (its own and inherited) under `lock`."""
    names = {
        name
        for klass in backend.__mro__
        if klass is not object and klass.__module__.startswith("moto.")
        for name, value in vars(klass).items()
        if callable(value) and not name.startswith("_") and not isinstance(value, staticmethod | classmethod | type)
    }
    for name in sorted(names):
        _patch(backend, name, _locked(getattr(backend, name), lock))


def hardened() -> bool:
    return bool(_patches)


def harden() -> None:
    """Apply the three changes (see the module's docstring); a second call does nothing."""
    if _patches:
        return
    _patch(BaseModel, "__new__", staticmethod(_weakly_tracked_new))
    _track_weakly()
    _patch(DynamoDBBackend, "transact_write_items", transact_write_items)
    _patch(DynamoHandler, "call_action", _locked(DynamoHandler.call_action, DYNAMODB_LOCK, _changing_action))
    _patch(S3Response, "_bucket_response", _locked(S3Response._bucket_response, S3_LOCK, _changing_method))
    _patch(S3Response, "_key_response", _locked(S3Response._key_response, S3_LOCK, _changing_method))
    _patch(SQSResponse, "call_action", _locked(SQSResponse.call_action, SQS_LOCK, _changing_action))
    _lock_backend_methods(SQSBackend, SQS_LOCK)
    _patch(Queue, "wait_for_messages", _wait_for_messages)
    _moto_modules()  # read now, before any request waits on it
    _patch(moto_backends, "list_of_moto_modules", _moto_modules)


def soften() -> None:
    """Undo harden() (the tracking lists stay weak: moto only appends to them and reads them)."""
    while _patches:
        owner, name, original = _patches.pop()
        if original is _MISSING:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
