"""What an archive format gives the packager: a plan of the archive's bytes (each member's
header and padding around its data, then a tail) laid out before a byte moves, so that S3
parts can be assembled from it, and the facts a download is served with. Pure code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar


@dataclass(frozen=True)
class Member:
    """One file to store: its (already safe) name, size and CRC-32."""

    name: str
    size: int
    crc32: int


@dataclass(frozen=True)
class PlannedEntry:
    member: Member
    offset: int  # where its header starts
    header: bytes  # the member's data follows immediately
    padding: bytes = b""  # after the data, before the next header (tar pads to its blocks)

    @property
    def data_offset(self) -> int:
        return self.offset + len(self.header)

    @property
    def end(self) -> int:
        return self.data_offset + self.member.size + len(self.padding)


@dataclass(frozen=True)
class ArchivePlan:
    entries: tuple[PlannedEntry, ...]
    tail: bytes  # what ends the archive (ZIP: the central directory and end records)
    tail_offset: int

    @property
    def size(self) -> int:
        return self.tail_offset + len(self.tail)


class Sized(Protocol):
    @property
    def size(self) -> int | None: ...


SizedT = TypeVar("SizedT", bound=Sized)


class ArchiveFormat(Protocol):
    """An archive format Carton can assemble with S3 parts: every member STORED, its bytes
    contiguous in the archive (so large ones are copied by S3, never read)."""

    name: str  # as a client asks for it
    content_type: str
    extension: str  # with its dot

    def order(self, members: list[SizedT]) -> list[SizedT]:
        """The members in the order the archive should hold them (the format's readers may care)."""
        ...

    def plan(self, members: Sequence[Member], modified: datetime) -> ArchivePlan:
        """Lay the members out in the given order; names must already be safe and unique."""
        ...
