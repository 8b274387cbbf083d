"""Files in and archives out: uploads through tickets, archive fetches that resume, and
the check of what arrived.

A fetch writes `<file>.part` (and what it was fetching beside it, `<file>.part.json`) and
renames it only once every byte is there. Run again after an interruption, it asks for the
rest with an HTTP Range (the object pinned with If-Match: a replaced archive starts over),
with a fresh presigned link when the old one expired.
"""

from __future__ import annotations

import functools
import hashlib
import json
import mimetypes
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO

import httpx

from carton.assets.api import CompletedPart, CompleteUploadRequest, SignPartsRequest, UploadOut, UploadRequest
from carton.client.client import Client
from carton.shared.media import EXTENSIONS

CHUNK = 1024 * 1024
MANIFEST = "manifest.json"
TAR_MAGIC_AT = 257
# Parts signed per request: each URL lasts 15 minutes, so sign as the upload goes.
PARTS_PER_SIGNING = 20
# The types Carton accepts, by the extension it gives them (Python's guesses for the rest).
TYPES_BY_EXTENSION = {extension: content_type for content_type, extension in EXTENSIONS.items()}
Progress = Callable[[int], None]  # called with each count of bytes moved


class TransferError(Exception):
    """A fetch or an upload that could not finish (S3 refused it, or the bytes are wrong)."""


def content_type_of(path: Path) -> str:
    suffix = path.suffix.lower()
    return TYPES_BY_EXTENSION.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


class _Counted:
    """A file that reports the bytes read from it (httpx streams the multipart body)."""

    def __init__(self, handle: IO[bytes], progress: Progress | None) -> None:
        self.handle, self.progress = handle, progress

    def fileno(self) -> int:
        """httpx sizes the form from it: S3 takes a POST with a Content-Length, never chunked."""
        return self.handle.fileno()

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        if data and self.progress is not None:
            self.progress(len(data))
        return data


def upload_file(
    client: Client, path: Path, progress: Progress | None = None, batch: datetime | None = None
) -> UploadOut:
    """Upload one file through a ticket and wait until Carton ingested (or rejected) it."""
    ticket = client.create_upload(
        UploadRequest(filename=path.name, content_type=content_type_of(path), size=path.stat().st_size, batch=batch)
    )
    # Ingest reads the whole file (at 50 MB/s or better) once it is stored.
    ingest_wait = 300 + ticket.size / 50e6
    if ticket.upload_method == "MULTIPART":
        _send_parts(client, path, ticket, progress)
        return client.wait_for_upload(ticket.id, timeout=ingest_wait)
    if ticket.upload_url is None or ticket.upload_fields is None:
        raise TransferError(f"{path}: the upload ticket has no form")
    with path.open("rb") as handle:
        files = {"file": (path.name, _Counted(handle, progress), ticket.upload_fields.get("Content-Type"))}
        response = client.storage.post(ticket.upload_url, data=ticket.upload_fields, files=files)  # type: ignore[arg-type]
    if response.status_code not in (200, 201, 204):
        raise TransferError(f"{path}: S3 refused the upload ({response.status_code}): {response.text[:300]}")
    return client.wait_for_upload(ticket.id, timeout=ingest_wait)


def _send_parts(client: Client, path: Path, ticket: UploadOut, progress: Progress | None) -> None:
    """PUT every part, signing them in batches as they are needed, then complete the upload."""
    count, size = ticket.part_count or 0, ticket.part_size or 0
    etags: dict[int, str] = {}
    with path.open("rb") as handle:
        for first in range(1, count + 1, PARTS_PER_SIGNING):
            numbers = list(range(first, min(first + PARTS_PER_SIGNING, count + 1)))
            for part in client.sign_parts(ticket.id, SignPartsRequest(numbers=numbers)).parts:
                handle.seek((part.number - 1) * size)
                body = handle.read(part.size)
                response = client.send(functools.partial(client.storage.put, part.url, content=body))
                if response.status_code == 403:  # its link expired while earlier parts went: sign it again
                    (fresh,) = client.sign_parts(ticket.id, SignPartsRequest(numbers=[part.number])).parts
                    response = client.send(functools.partial(client.storage.put, fresh.url, content=body))
                if response.status_code != 200 or "ETag" not in response.headers:
                    raise TransferError(f"{path}: S3 refused part {part.number} ({response.status_code})")
                etags[part.number] = response.headers["ETag"]
                if progress is not None:
                    progress(len(body))
    parts = [CompletedPart(number=number, etag=etag) for number, etag in sorted(etags.items())]
    client.complete_upload(ticket.id, CompleteUploadRequest(parts=parts))


# ---- fetch ------------------------------------------------------------------------------


@dataclass
class Fetched:
    path: Path
    size: int
    resumed_from: int  # bytes already there when this run began


def _throttle(started: float, moved: int, limit_rate: int | None) -> None:
    if limit_rate:
        ahead = moved / limit_rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)


def fetch_archive(
    client: Client,
    download_id: str,
    target: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    limit_rate: int | None = None,
    attempts: int = 5,
) -> Fetched:
    """Fetch the download's archive to `target`, resuming a `.part` left by an earlier run.
    `progress(done, total)` follows it; `limit_rate`: bytes per second at most."""
    part = target.with_name(target.name + ".part")
    state_file = target.with_name(target.name + ".part.json")
    try:
        state = json.loads(state_file.read_text()) if state_file.is_file() and part.is_file() else {}
    except ValueError:  # cut short when the fetch was killed: begin afresh
        state = {}
    if state.get("download_id") != download_id:
        part.unlink(missing_ok=True)
        state = {"download_id": download_id}
    resumed_from = part.stat().st_size if part.is_file() else 0
    url = client.archive_url(download_id)
    started, moved = time.monotonic(), 0
    for _ in range(attempts):
        have = part.stat().st_size if part.is_file() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        if have and state.get("etag"):
            headers["If-Match"] = state["etag"]
        try:
            with client.storage.stream("GET", url, headers=headers) as response:
                if response.status_code == 403:  # the presigned link expired: ask for a fresh one
                    url = client.archive_url(download_id)
                    continue
                if response.status_code == 416 and _whole(response, have):  # every byte came before the stop
                    part.replace(target)
                    state_file.unlink(missing_ok=True)
                    return Fetched(target, have, resumed_from)
                if response.status_code in (412, 416):  # replaced since, or the part is corrupt: start over
                    part.unlink(missing_ok=True)
                    state.pop("etag", None)
                    continue
                if response.status_code not in (200, 206):
                    raise TransferError(f"S3 answered {response.status_code} for the archive")
                total = _total(response, have)
                state["etag"] = response.headers.get("ETag")
                written = state_file.with_name(state_file.name + ".new")
                written.write_text(json.dumps(state))
                written.replace(state_file)  # whole or not at all, if the fetch is killed
                mode = "ab" if response.status_code == 206 else "wb"
                with part.open(mode) as out:
                    done = have if mode == "ab" else 0
                    for chunk in response.iter_bytes(CHUNK):
                        out.write(chunk)
                        done += len(chunk)
                        moved += len(chunk)
                        if progress is not None:
                            progress(done, total)
                        _throttle(started, moved, limit_rate)
                if done == total:
                    part.replace(target)
                    state_file.unlink(missing_ok=True)
                    return Fetched(target, total, resumed_from)
        except (httpx.ReadError, httpx.RemoteProtocolError, httpx.TimeoutException):
            continue  # resume from what arrived
    raise TransferError(f"the archive could not be fetched in {attempts} attempts; run the fetch again to resume")


def _whole(response: httpx.Response, have: int) -> bool:
    """A 416 to `bytes=have-` when the object has exactly `have` bytes (`bytes */have`)."""
    return str(response.headers.get("Content-Range", "")).strip() == f"bytes */{have}"


def _total(response: httpx.Response, have: int) -> int:
    if response.status_code == 206:
        return int(response.headers["Content-Range"].rsplit("/", 1)[1])
    return int(response.headers.get("Content-Length", have))


# ---- verify and extract -----------------------------------------------------------------


@dataclass
class Verified:
    kind: str  # "zip" (every entry's CRC-32 checked) or "tar" (no CRCs: only the manifest's checks)
    files: int  # entries read
    checked_sha256: int  # of those, files the manifest's size and SHA-256 confirmed

    def summary(self) -> str:
        if self.kind == "zip":
            return f"verified {self.files} files (CRC-32), {self.checked_sha256} against the manifest (SHA-256)"
        return f"verified {self.checked_sha256} of {self.files} files against the manifest (SHA-256; tar has no CRCs)"


def archive_kind(path: Path) -> str | None:
    """ "zip" or "tar" by the archive's first bytes (a ZIP starts with a local header; a tar's
    first header says `ustar` at 257), never by where a ZIP's end record might be: a tar
    whose last member is a file with a ZIP appended must not pass for that ZIP."""
    with path.open("rb") as handle:
        head = handle.read(TAR_MAGIC_AT + 5)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head[TAR_MAGIC_AT : TAR_MAGIC_AT + 5] == b"ustar":
        return "tar"
    return None


def verify_archive(path: Path) -> Verified:
    """A ZIP's every CRC-32, and (ZIP or tar) every file the archive's manifest.json lists:
    its size and SHA-256. Raises TransferError naming the first file that does not match."""
    kind = archive_kind(path)
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as archive:  # zipfile checks each CRC-32 as it reads
                return _checked(path, "zip", ((info.filename, archive.open(info)) for info in archive.infolist()))
        if kind == "tar":
            with tarfile.open(path) as archive:
                return _checked(path, "tar", ((member.name, _tar_member(archive, member)) for member in archive))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, EOFError, ValueError, KeyError) as error:
        raise TransferError(f"{path.name} is damaged: {error}") from error
    raise TransferError(f"{path.name} is neither a ZIP nor a tar archive")


def _tar_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    extracted = archive.extractfile(member) if member.isfile() else None
    if extracted is None:
        raise TransferError(f"{member.name}: not a file (Carton's archives hold only files)")
    return extracted


def _checked(path: Path, kind: str, members: Iterator[tuple[str, IO[bytes]]]) -> Verified:
    sums: dict[str, tuple[int, str]] = {}
    manifest: bytes | None = None
    for name, handle in members:
        digest, size = hashlib.sha256(), 0
        with handle:
            while data := handle.read(CHUNK):
                digest.update(data)
                size += len(data)
                if name == MANIFEST:
                    manifest = (manifest or b"") + data
        sums[name] = (size, digest.hexdigest())
    confirmed = 0
    for entry in json.loads(manifest)["files"] if manifest is not None else []:
        if entry["path"] not in sums:
            raise TransferError(f"{entry['path']}: listed in the manifest, not in {path.name}")
        if sums[entry["path"]] != (entry["size"], entry["sha256"]):
            raise TransferError(f"{entry['path']}: size or SHA-256 differs from the manifest")
        confirmed += 1
    return Verified(kind=kind, files=len(sums), checked_sha256=confirmed)


def safe_destination(root: Path, name: str) -> Path:
    """Where an entry goes under `root`; an entry that would land elsewhere is refused."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or name.startswith("/") or ".." in parts or ":" in parts[0]:
        raise TransferError(f"refused to extract {name!r}: it would land outside {root}")
    destination = root.joinpath(*parts).resolve()
    if not destination.is_relative_to(root.resolve()):
        raise TransferError(f"refused to extract {name!r}: it would land outside {root}")
    return destination


def extract_archive(path: Path, root: Path) -> int:
    """Extract every file under `root` (entries that would escape it are refused first)."""
    root.mkdir(parents=True, exist_ok=True)
    kind = archive_kind(path)
    if kind is None:
        raise TransferError(f"{path.name} is neither a ZIP nor a tar archive")
    if kind == "tar":
        with tarfile.open(path) as tar:
            members = [(member, safe_destination(root, member.name)) for member in tar]
            for member, destination in members:
                _write(_tar_member(tar, member), destination)
            return len(members)
    with zipfile.ZipFile(path) as archive:
        plan = [(info, safe_destination(root, info.filename)) for info in archive.infolist() if not info.is_dir()]
        for info, destination in plan:
            _write(archive.open(info), destination)
        return len(plan)


def _write(source: IO[bytes], destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    with source, destination.open("wb") as out:
        while data := source.read(CHUNK):
            out.write(data)
