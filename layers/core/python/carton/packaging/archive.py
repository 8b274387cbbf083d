"""ZIP archive planning: pure code, no I/O.

Every member's size and CRC-32 is known before a byte moves (assets carry them from
ingest), so the whole archive is laid out up front: STORED entries with sizes and CRCs
in the local headers (no data descriptors, which Java's ZipInputStream and streaming
readers reject), UTF-8 names, ZIP64 records only where a size, offset or count needs
them. The plan yields the exact archive size and the bytes of every header, so any
writer (a stream, or S3 parts) can assemble the archive from it.
"""

from __future__ import annotations

import re
import struct
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

ZIP32_LIMIT = 0xFFFFFFFF
ZIP16_LIMIT = 0xFFFF
_UTF8_FLAG = 0x0800
_VERSION_DEFAULT = 20
_VERSION_ZIP64 = 45
_MADE_BY_UNIX = 3 << 8
_REGULAR_FILE_MODE = 0o100644 << 16
_ZIP64_EXTRA_ID = 0x0001

# Names are bounded so that every unzip tool and file system can create them.
MAX_COMPONENT_BYTES = 200
MAX_NAME_BYTES = 1000
_RESERVED = set('<>:"|?*')
_DRIVE = re.compile(r"^(?:/*[A-Za-z]:)+")
_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{n}" for p in ("COM", "LPT") for n in range(1, 10)}


@dataclass(frozen=True)
class Member:
    """One file to store: its (already safe) name, size and CRC-32."""

    name: str
    size: int
    crc32: int


@dataclass(frozen=True)
class PlannedEntry:
    member: Member
    offset: int  # where its local header starts
    header: bytes  # local file header, data follows immediately

    @property
    def data_offset(self) -> int:
        return self.offset + len(self.header)

    @property
    def end(self) -> int:
        return self.data_offset + self.member.size


@dataclass(frozen=True)
class ArchivePlan:
    entries: tuple[PlannedEntry, ...]
    central_directory: bytes  # central headers + (ZIP64 end records) + end record
    central_directory_offset: int

    @property
    def size(self) -> int:
        return self.central_directory_offset + len(self.central_directory)


def _truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


def _safe_component(component: str) -> str:
    cleaned = "".join(
        "_" if ch in _RESERVED else ch
        for ch in component
        if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    # Windows drops trailing dots and spaces, which would merge distinct names.
    cleaned = cleaned.strip().rstrip(". ")
    if cleaned in ("", ".", ".."):
        return ""
    stem, dot, suffix = cleaned.partition(".")
    if stem.upper() in _WINDOWS_DEVICES:
        cleaned = f"_{stem}{dot}{suffix}"
    if len(cleaned.encode("utf-8")) > MAX_COMPONENT_BYTES:
        path = PurePosixPath(cleaned)
        ext = _truncate_utf8(path.suffix, 20) if path.suffix else ""
        cleaned = (
            _truncate_utf8(cleaned[: len(cleaned) - len(path.suffix)], MAX_COMPONENT_BYTES - len(ext.encode())) + ext
        )
    return cleaned


def safe_entry_name(raw: str, fallback: str = "file") -> str:
    """A relative, normalised archive path that can never escape the extraction folder.

    Backslashes count as separators, `.`/`..`/empty components and drive letters are
    dropped, control characters removed, characters Windows forbids replaced.
    """
    text = _DRIVE.sub("", unicodedata.normalize("NFC", raw).replace("\\", "/"))
    parts = [part for part in map(_safe_component, text.split("/")) if part]
    name = "/".join(parts) or fallback
    while len(name.encode("utf-8")) > MAX_NAME_BYTES and "/" in name:
        name = name.split("/", 1)[1]
    return _truncate_utf8(name, MAX_NAME_BYTES) or fallback


def _with_counter(name: str, counter: int) -> str:
    path = PurePosixPath(name)
    stem = name[: len(name) - len(path.suffix)] if path.suffix else name
    return f"{stem} ({counter}){path.suffix}"


def unique_names(names: Iterable[str]) -> list[str]:
    """Make names unique ignoring case, in order: `a.jpg`, `A.jpg` -> `a.jpg`, `A (1).jpg`."""
    wanted = list(names)
    taken: set[str] = set()
    result: list[str] = []
    for name in wanted:
        candidate, counter = name, 0
        while candidate.casefold() in taken:
            counter += 1
            candidate = _with_counter(name, counter)
        taken.add(candidate.casefold())
        result.append(candidate)
    return result


def dos_datetime(moment: datetime) -> tuple[int, int]:
    """(time, date) in MS-DOS format; ZIP cannot express years before 1980."""
    year = min(max(moment.year, 1980), 2107)
    dos_time = (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2)
    dos_date = ((year - 1980) << 9) | (moment.month << 5) | moment.day
    return dos_time, dos_date


def _zip64_extra(values: Sequence[int]) -> bytes:
    if not values:
        return b""
    return struct.pack("<HH", _ZIP64_EXTRA_ID, 8 * len(values)) + b"".join(struct.pack("<Q", value) for value in values)


def _local_header(member: Member, stamp: tuple[int, int]) -> bytes:
    name = member.name.encode("utf-8")
    large = member.size >= ZIP32_LIMIT
    extra = _zip64_extra([member.size, member.size]) if large else b""
    size32 = ZIP32_LIMIT if large else member.size
    return (
        struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            _VERSION_ZIP64 if large else _VERSION_DEFAULT,
            _UTF8_FLAG,
            0,  # STORED
            stamp[0],
            stamp[1],
            member.crc32,
            size32,
            size32,
            len(name),
            len(extra),
        )
        + name
        + extra
    )


def _central_header(entry: PlannedEntry, stamp: tuple[int, int]) -> bytes:
    member = entry.member
    name = member.name.encode("utf-8")
    large = member.size >= ZIP32_LIMIT
    far = entry.offset >= ZIP32_LIMIT
    extra = _zip64_extra(([member.size, member.size] if large else []) + ([entry.offset] if far else []))
    version = _VERSION_ZIP64 if extra else _VERSION_DEFAULT
    size32 = ZIP32_LIMIT if large else member.size
    return (
        struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            _MADE_BY_UNIX | version,
            version,
            _UTF8_FLAG,
            0,
            stamp[0],
            stamp[1],
            member.crc32,
            size32,
            size32,
            len(name),
            len(extra),
            0,  # comment
            0,  # disk
            0,  # internal attributes
            _REGULAR_FILE_MODE,
            ZIP32_LIMIT if far else entry.offset,
        )
        + name
        + extra
    )


def _end_records(count: int, cd_offset: int, cd_size: int) -> bytes:
    needs_zip64 = count >= ZIP16_LIMIT or cd_offset >= ZIP32_LIMIT or cd_size >= ZIP32_LIMIT
    records = b""
    if needs_zip64:
        eocd64_offset = cd_offset + cd_size
        records += struct.pack(
            "<IQHHIIQQQQ",
            0x06064B50,
            44,
            _MADE_BY_UNIX | _VERSION_ZIP64,
            _VERSION_ZIP64,
            0,
            0,
            count,
            count,
            cd_size,
            cd_offset,
        )
        records += struct.pack("<IIQI", 0x07064B50, 0, eocd64_offset, 1)
    records += struct.pack(
        "<IHHHHIIH",
        0x06054B50,
        0,
        0,
        min(count, ZIP16_LIMIT),
        min(count, ZIP16_LIMIT),
        min(cd_size, ZIP32_LIMIT),
        min(cd_offset, ZIP32_LIMIT),
        0,
    )
    return records


def plan_archive(members: Sequence[Member], modified: datetime) -> ArchivePlan:
    """Lay out an archive of STORED members in the given order.

    Names must already be safe and unique (see `safe_entry_name`, `unique_names`).
    """
    stamp = dos_datetime(modified)
    entries: list[PlannedEntry] = []
    offset = 0
    for member in members:
        entry = PlannedEntry(member=member, offset=offset, header=_local_header(member, stamp))
        entries.append(entry)
        offset = entry.end
    central = b"".join(_central_header(entry, stamp) for entry in entries)
    return ArchivePlan(
        entries=tuple(entries),
        central_directory=central + _end_records(len(entries), offset, len(central)),
        central_directory_offset=offset,
    )
