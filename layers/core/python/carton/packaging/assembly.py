"""How S3 assembles a planned archive: the split into multipart parts. Pure code, no I/O.

Large member ranges become UploadPartCopy parts (S3 copies them server-side, no byte
passes through a worker); everything else — headers, small files, the borders of large
files, the central directory — is glue, streamed into parts by workers. Every part is at
least 5 MiB but the last, at most 5 GiB, and there are at most 10,000 of them.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from carton.packaging.formats.base import ArchivePlan

MiB = 1024 * 1024
MIN_PART = 5 * MiB
MAX_PART = 5 * 1024 * MiB
MAX_PARTS = 10_000
GLUE_PART = 8 * MiB
# Below this a member is streamed: copying it would cost two parts and borrow most of it anyway.
COPY_THRESHOLD = 16 * MiB
# Each copied member costs at least two parts; keep well inside the 10,000-part limit.
MAX_COPIED_MEMBERS = 4_000
# Parts are handed to workers in groups; the inline Map stays far from execution-history limits.
MAX_GROUPS = 200


@dataclass(frozen=True, slots=True)
class Source:
    """Where a member's bytes live, pinned to the version the plan was made for; or the
    bytes themselves (`inline`: the manifest, made while planning)."""

    key: str
    etag: str
    size: int
    inline: bytes | None = None


@dataclass(frozen=True, slots=True)
class Literal:
    data: bytes


@dataclass(frozen=True, slots=True)
class Span:
    """Bytes [start, end) of member `member`'s source, streamed by a ranged GET."""

    member: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Copy:
    """Bytes [start, end) of member `member`'s source, copied by S3 (UploadPartCopy)."""

    member: int
    start: int
    end: int


Piece = Literal | Span | Copy


@dataclass(slots=True)
class Part:
    number: int
    pieces: list[Piece] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(len(p.data) if isinstance(p, Literal) else p.end - p.start for p in self.pieces)

    @property
    def is_copy(self) -> bool:
        return len(self.pieces) == 1 and isinstance(self.pieces[0], Copy)


@dataclass(frozen=True)
class Assembly:
    parts: tuple[Part, ...]
    size: int
    crc32: int  # of the whole archive, from glue bytes and member CRCs alone

    @property
    def copied_bytes(self) -> int:
        return sum(part.size for part in self.parts if part.is_copy)

    def groups(self) -> list[tuple[int, int]]:
        """(first, last) part numbers per worker, consecutive, at most MAX_GROUPS."""
        per_group = max(1, math.ceil(len(self.parts) / MAX_GROUPS))
        numbers = [part.number for part in self.parts]
        return [
            (chunk[0], chunk[-1]) for chunk in (numbers[i : i + per_group] for i in range(0, len(numbers), per_group))
        ]


class _Builder:
    def __init__(self, glue_part: int) -> None:
        self.glue_part = glue_part
        self.parts: list[Part] = []
        self.glue: list[Piece] = []
        self.glue_size = 0

    def _flush(self) -> None:
        if self.glue:
            self.parts.append(Part(len(self.parts) + 1, self.glue))
            self.glue, self.glue_size = [], 0

    def add_glue(self, piece: Literal | Span) -> None:
        """Append streamed bytes, cutting a part whenever the glue part is full."""
        while True:
            size = len(piece.data) if isinstance(piece, Literal) else piece.end - piece.start
            room = self.glue_part - self.glue_size
            if size <= room:
                if size:
                    self.glue.append(piece)
                    self.glue_size += size
                if self.glue_size == self.glue_part:
                    self._flush()
                return
            head: Literal | Span
            rest: Literal | Span
            if isinstance(piece, Literal):
                head, rest = Literal(piece.data[:room]), Literal(piece.data[room:])
            else:
                head = Span(piece.member, piece.start, piece.start + room)
                rest = Span(piece.member, piece.start + room, piece.end)
            piece = rest
            self.glue.append(head)
            self.glue_size += room
            self._flush()

    def add_copy(self, member: int, size: int) -> None:
        """Copy member bytes server-side, after borrowing enough to make the glue part whole."""
        borrow = min(max(0, MIN_PART - self.glue_size), size)
        if borrow:
            self.add_glue(Span(member, 0, borrow))
        self._flush()
        remaining = size - borrow
        count = math.ceil(remaining / MAX_PART)
        step = math.ceil(remaining / count)
        for start in range(borrow, size, step):
            self.parts.append(Part(len(self.parts) + 1, [Copy(member, start, min(start + step, size))]))

    def finish(self) -> list[Part]:
        self._flush()
        return self.parts


def _times(matrix: Sequence[int], vector: int) -> int:
    total, index = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[index]
        vector >>= 1
        index += 1
    return total


@cache
def _zero_bytes_operator(power: int) -> tuple[int, ...]:
    """The GF(2) matrix that advances a CRC-32 over 2**power zero bytes."""
    if power == 0:
        operator: Sequence[int] = [0xEDB88320] + [1 << n for n in range(31)]  # one zero bit
        for _ in range(3):  # 2, 4, 8 bits: one byte
            operator = [_times(operator, row) for row in operator]
        return tuple(operator)
    previous = _zero_bytes_operator(power - 1)
    return tuple(_times(previous, row) for row in previous)


@cache
def _byte_tables(power: int) -> tuple[tuple[int, ...], ...]:
    """The operator as four byte-indexed tables, so applying it costs four look-ups."""
    operator = _zero_bytes_operator(power)
    return tuple(tuple(_times(operator, value << (8 * lane)) for value in range(256)) for lane in range(4))


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """CRC-32 of A+B from crc(A), crc(B) and len(B), without the bytes (zlib's crc32_combine)."""
    power = 0
    while length2:
        if length2 & 1:
            t0, t1, t2, t3 = _byte_tables(power)
            crc1 = t0[crc1 & 0xFF] ^ t1[(crc1 >> 8) & 0xFF] ^ t2[(crc1 >> 16) & 0xFF] ^ t3[crc1 >> 24]
        length2 >>= 1
        power += 1
    return crc1 ^ crc2


def assemble(plan: ArchivePlan, sources: Sequence[Source]) -> Assembly:
    """Split the archive into parts; `sources[i]` holds the bytes of `plan.entries[i]`."""
    sizes = [entry.member.size for entry in plan.entries]
    if [source.size for source in sources] != sizes:
        raise ValueError("sources and planned entries differ in size")
    eligible = sorted(
        (i for i, size in enumerate(sizes) if size >= COPY_THRESHOLD and sources[i].inline is None),
        key=lambda i: -sizes[i],
    )
    copied = set(eligible[:MAX_COPIED_MEMBERS])
    streamed = plan.size - sum(sizes[i] for i in copied)
    # Grow glue parts so that the glue alone stays well under the part limit.
    budget = MAX_PARTS - 2 * len(copied) - sum(math.ceil(sizes[i] / MAX_PART) for i in copied)
    glue_part = max(GLUE_PART, math.ceil(streamed / max(budget - 1, 1) / MiB) * MiB)
    builder = _Builder(glue_part)
    crc = 0
    for index, entry in enumerate(plan.entries):
        builder.add_glue(Literal(entry.header))
        crc = zlib.crc32(entry.header, crc)
        inline = sources[index].inline
        if inline is not None:
            builder.add_glue(Literal(inline))
        elif index in copied:
            builder.add_copy(index, entry.member.size)
        else:
            builder.add_glue(Span(index, 0, entry.member.size))
        crc = crc32_combine(crc, entry.member.crc32, entry.member.size)
        if entry.padding:
            builder.add_glue(Literal(entry.padding))
            crc = zlib.crc32(entry.padding, crc)
    builder.add_glue(Literal(plan.tail))
    crc = zlib.crc32(plan.tail, crc)
    parts = builder.finish()
    if len(parts) > MAX_PARTS:
        raise ValueError(f"{len(parts)} parts is over S3's {MAX_PARTS}")
    return Assembly(parts=tuple(parts), size=plan.size, crc32=crc)
