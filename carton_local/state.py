"""The local stack's state on disk, so that a restart keeps what was made.

moto keeps everything in memory and has no persistence of its own. The stack saves a
snapshot of the emulator to its state directory (`$CARTON_HOME/state`, by default
`.carton/state`) every few seconds when something changed and when it stops (Ctrl-C,
SIGTERM), and restores it at start, into the resources it has just created from Carton's
definitions:

- DynamoDB: every item of the stack's table, as DynamoDB JSON.
- S3: every object version of the stack's buckets (bytes, metadata, ETag, version id,
  checksums, delete markers) and the multipart uploads not yet completed, as moto's own
  objects (pickled; moto's `FakeKey` is made for it).
- SQS: the body and attributes of every message waiting in the stack's queues (feeds and
  dead-letter queues); a message that was being handled is delivered again.

A snapshot is taken under every service lock (one consistent moment across the three
services) and written to a temporary file that then replaces the last one: a crash loses at
most the changes since the last save, never the whole state. What is not kept is listed in
the README ("Local state").
"""

from __future__ import annotations

import fcntl
import os
import pickle
import secrets
import shutil
import sys
import threading
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import moto
from moto.dynamodb.models import dynamodb_backends
from moto.s3.models import s3_backends
from moto.sqs.models import sqs_backends

from carton_local.hardening import CHANGES, all_services
from carton_local.lambdas import ACCOUNT, REGION

STATE_DIR = "state"
SNAPSHOT_FILE = "snapshot.pickle"
LOCK_FILE = ".lock"
DEMO_TOKEN_FILE = "demo-token"  # noqa: S105 (a file name)
CURSOR_KEY_FILE = "cursor-key"
FORMAT = 1
# Downloads a restart finds unfinished: their workflow did not survive the stop.
UNFINISHED_STATES = ("pending", "packaging")


class StateInUse(RuntimeError):
    """Another local stack holds the state directory."""


@dataclass
class Restored:
    """What a start found in the state directory."""

    items: int = 0
    objects: int = 0
    messages: int = 0
    saved_at: str | None = None
    unfinished_downloads: list[tuple[str, str]] = field(default_factory=list)  # (account, download id)
    dropped: list[str] = field(default_factory=list)  # saved resources the stack no longer defines

    def summary(self) -> str:
        if self.saved_at is None:
            return "empty: a fresh start"
        return f"restored {self.items} items, {self.objects} object versions, {self.messages} messages"


def _dynamodb() -> Any:
    return dynamodb_backends[ACCOUNT][REGION]


def _s3() -> Any:
    return s3_backends[ACCOUNT]["aws"]


def _sqs() -> Any:
    return sqs_backends[ACCOUNT][REGION]


# ---- capture and restore ----------------------------------------------------------------


def capture() -> dict[str, Any]:
    """The emulator's data, as plain values and moto's S3 objects. Call it under all_services()."""
    tables = {
        name: [item.to_json()["Attributes"] for item in table.all_items()] for name, table in _dynamodb().tables.items()
    }
    buckets = {
        name: {
            "versioning": bucket.versioning_status,
            "keys": {key: list(versions) for key, versions in bucket.keys.iterlists()},
            "multiparts": dict(bucket.multiparts),
        }
        for name, bucket in _s3().buckets.items()
    }
    queues = {
        name: [
            {"body": message.body, "attributes": dict(message.message_attributes)} for message in list(queue._messages)
        ]
        for name, queue in _sqs().queues.items()
    }
    return {
        "format": FORMAT,
        "moto": moto.__version__,
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "tables": tables,
        "buckets": buckets,
        "queues": queues,
    }


def restore(snapshot: dict[str, Any]) -> Restored:
    """Put a snapshot's data into the resources that exist now (created from Carton's
    definitions); what the stack no longer defines is left out and named in `dropped`."""
    restored = Restored(saved_at=str(snapshot.get("saved_at")))
    with all_services():
        dynamodb = _dynamodb()
        for name, items in snapshot["tables"].items():
            table = dynamodb.tables.get(name)
            if table is None:
                restored.dropped.append(f"table {name} ({len(items)} items)")
                continue
            for attributes in items:
                table.put_item(attributes)
                restored.items += 1
                if _unfinished_download(attributes):
                    restored.unfinished_downloads.append(
                        (attributes["account_id"]["S"], attributes["download_id"]["S"])
                    )
        s3 = _s3()
        for name, saved in snapshot["buckets"].items():
            bucket = s3.buckets.get(name)
            if bucket is None:
                restored.dropped.append(f"bucket {name} ({len(saved['keys'])} keys)")
                continue
            bucket.versioning_status = saved["versioning"] or bucket.versioning_status
            for key, versions in saved["keys"].items():
                bucket.keys.setlist(key, versions)
                restored.objects += len(versions)
            bucket.multiparts.update(saved["multiparts"])
        sqs = _sqs()
        for name, messages in snapshot["queues"].items():
            if name not in sqs.queues:
                restored.dropped.append(f"queue {name} ({len(messages)} messages)")
                continue
            for message in messages:
                sqs.send_message(name, message["body"], message_attributes=message["attributes"] or None)
                restored.messages += 1
    return restored


def _unfinished_download(attributes: dict[str, Any]) -> bool:
    sort_key = next(iter(attributes.get("sk", {}).values()), "")
    state = attributes.get("state", {}).get("S")
    return (
        str(sort_key).startswith("DOWNLOAD#")
        and state in UNFINISHED_STATES
        and "account_id" in attributes
        and "download_id" in attributes
    )


# ---- the directory ------------------------------------------------------------------------


class StateDir:
    """The state directory: the snapshot, the demo key, the cursor key, and a lock that keeps
    a second stack (or `make reset`) away while one runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock: IO[bytes] | None = None

    @property
    def snapshot_file(self) -> Path:
        return self.path / SNAPSHOT_FILE

    def lock(self) -> None:
        """Hold the directory for this process (StateInUse if another one holds it)."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle = (self.path / LOCK_FILE).open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            handle.close()
            raise StateInUse(f"another local stack is using {self.path}; stop it first") from error
        self._lock = handle

    def unlock(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def read(self) -> dict[str, Any] | None:
        """The last snapshot; None when there is none, or when it cannot be read (it is then
        moved aside, not deleted, and the stack starts empty)."""
        path = self.snapshot_file
        if not path.exists():
            return None
        try:
            with path.open("rb") as handle:
                snapshot: Any = pickle.load(handle)  # noqa: S301 (the stack's own file, in its own directory)
            if not isinstance(snapshot, dict) or snapshot.get("format") != FORMAT:
                raise ValueError(f"not a snapshot of format {FORMAT}")
        except Exception as error:  # a snapshot of another moto version, a truncated file
            aside = path.with_name(f"{path.name}.unreadable-{datetime.now(UTC):%Y%m%dT%H%M%S}")
            path.replace(aside)
            print(
                f"warning: could not read {path} ({type(error).__name__}: {error}); "
                f"moved it to {aside.name} and starting empty",
                file=sys.stderr,
                flush=True,
            )
            return None
        return snapshot

    def write(self, data: bytes) -> None:
        """Replace the snapshot at once: a crash leaves the old one or the new one, whole."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.snapshot_file.with_name(f".{SNAPSHOT_FILE}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # key hashes, user data
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.snapshot_file)

    def secret(self, name: str, make: bool = True) -> str | None:
        """A secret kept in the directory (owner-only), made on first use when `make`."""
        path = self.path / name
        if path.exists():
            return path.read_text().strip() or None
        if not make:
            return None
        value = secrets.token_urlsafe(32)
        self.keep_secret(name, value)
        return value

    def keep_secret(self, name: str, value: str) -> None:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.path / name
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(value + "\n")

    def reset(self) -> None:
        """Empty the directory (StateInUse while a stack runs on it)."""
        if not self.path.exists():
            return
        self.lock()
        try:
            for entry in self.path.iterdir():
                if entry.name == LOCK_FILE:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        finally:
            self.unlock()


# ---- saving -------------------------------------------------------------------------------


class StateSaver:
    """Saves a snapshot when the emulator changed: every `interval` seconds (a thread) and
    once more at stop."""

    def __init__(self, state: StateDir, interval: float) -> None:
        self.state = state
        self.interval = interval
        self.saves = 0
        self._saved_at_change = -1
        self._saving = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="state-saver", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.save()
            except Exception:  # keep the stack serving; the next save may succeed
                traceback.print_exc()

    def save(self, force: bool = False) -> bool:
        """Write a snapshot unless nothing changed since the last one; True if it wrote."""
        with self._saving:
            with all_services():
                change = CHANGES.count
                if change == self._saved_at_change and not force:
                    return False
                data = pickle.dumps(capture(), protocol=pickle.HIGHEST_PROTOCOL)
            self.state.write(data)
            self._saved_at_change = change
            self.saves += 1
            return True

    def mark_saved(self) -> None:
        """What is in the emulator now is what the directory holds (just restored)."""
        with all_services():
            self._saved_at_change = CHANGES.count

    def stop(self) -> None:
        """Stop the thread and save what changed since its last save."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.save()
