"""tar: POSIX (pax) archives, planned with no I/O.

Each member is a 512-byte ustar header (preceded by a pax extended header when its name is
long or not ASCII, or its size is 8 GiB or more), its bytes unchanged, then zeros to the
next 512-byte block; two zero blocks end the archive. Like Carton's ZIPs the members are
stored, never compressed, so their bytes are contiguous and S3 copies the large ones.
Python's tarfile writes the headers (one well-kept implementation of the format's rules);
GNU tar, bsdtar and tarfile read what it writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from carton.packaging.formats.base import ArchivePlan, Member, PlannedEntry, SizedT

BLOCK = 512
END_OF_ARCHIVE = b"\0" * (2 * BLOCK)


def header(member: Member, modified: datetime) -> bytes:
    # Loaded on first use: only the workflow's planning step writes tar headers.
    import tarfile

    info = tarfile.TarInfo(member.name)
    info.size = member.size
    info.mtime = int(modified.timestamp())
    info.mode = 0o644
    info.type = tarfile.REGTYPE
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="strict")


def plan_archive(members: Sequence[Member], modified: datetime) -> ArchivePlan:
    entries: list[PlannedEntry] = []
    offset = 0
    for member in members:
        entry = PlannedEntry(
            member=member, offset=offset, header=header(member, modified), padding=b"\0" * (-member.size % BLOCK)
        )
        entries.append(entry)
        offset = entry.end
    return ArchivePlan(entries=tuple(entries), tail=END_OF_ARCHIVE, tail_offset=offset)


class Tar:
    name = "tar"
    content_type = "application/x-tar"
    extension = ".tar"

    def order(self, members: list[SizedT]) -> list[SizedT]:
        return members  # tar readers care for no order

    def plan(self, members: Sequence[Member], modified: datetime) -> ArchivePlan:
        return plan_archive(members, modified)


TAR = Tar()
