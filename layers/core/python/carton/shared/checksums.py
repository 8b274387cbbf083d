"""What every stored file carries: its size, SHA-256 and CRC-32, computed once from its
exact bytes, as they stream. The CRC-32 is what the archive's ZIP headers will say."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Checksums:
    size: int
    sha256: str
    crc32: int


class Checksummer:
    """Fed chunk by chunk (a stream read once for everything it is checked for)."""

    def __init__(self) -> None:
        self._digest, self._crc, self.size = hashlib.sha256(), 0, 0

    def update(self, chunk: bytes) -> None:
        self._digest.update(chunk)
        self._crc = zlib.crc32(chunk, self._crc)
        self.size += len(chunk)

    def result(self) -> Checksums:
        return Checksums(size=self.size, sha256=self._digest.hexdigest(), crc32=self._crc)


def checksums(chunks: Iterable[bytes]) -> Checksums:
    summer = Checksummer()
    for chunk in chunks:
        summer.update(chunk)
    return summer.result()
