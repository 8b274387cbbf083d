"""ZIP: every fact of the format Carton writes, planned with no I/O.

Every member's size and CRC-32 is known before a byte moves (assets carry them from
ingest), so the whole archive is laid out up front: STORED entries with sizes and CRCs
in the local headers (no data descriptors, which Java's ZipInputStream and streaming
readers reject), UTF-8 names, ZIP64 records only where a size, offset or count needs
them. The plan yields the exact archive size and the bytes of every header, so any
writer (a stream, or S3 parts) can assemble the archive from it.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import datetime

from carton.packaging.formats.base import ArchivePlan, Member, PlannedEntry, SizedT

ZIP32_LIMIT = 0xFFFFFFFF
ZIP16_LIMIT = 0xFFFF
_UTF8_FLAG = 0x0800
_VERSION_DEFAULT = 20
_VERSION_ZIP64 = 45
_MADE_BY_UNIX = 3 << 8
_REGULAR_FILE_MODE = 0o100644 << 16
_ZIP64_EXTRA_ID = 0x0001


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
        tail=central + _end_records(len(entries), offset, len(central)),
        tail_offset=offset,
    )


def first_entry_small(members: list[SizedT]) -> list[SizedT]:
    """A first entry of 4 GiB or more would carry ZIP64 fields, which macOS's and Safari's
    automatic extraction refuse; a smaller file, if there is one, goes first instead."""
    if members and (members[0].size or 0) >= ZIP32_LIMIT:
        small = next((i for i, m in enumerate(members) if (m.size or 0) < ZIP32_LIMIT), None)
        if small is not None:
            return [members[small], *members[:small], *members[small + 1 :]]
    return members


class Zip:
    name = "zip"
    content_type = "application/zip"
    extension = ".zip"

    def order(self, members: list[SizedT]) -> list[SizedT]:
        return first_entry_small(members)

    def plan(self, members: Sequence[Member], modified: datetime) -> ArchivePlan:
        return plan_archive(members, modified)


ZIP = Zip()
