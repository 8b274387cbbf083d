"""The demo account the local stack makes on its first start: its name, its admin, and
the assets it holds (a text file, two PNGs drawn here, a CSV), which the README's walk,
the e2e tests and the benchmarks use."""

from __future__ import annotations

import struct
import zlib

DEMO_ACCOUNT = "demo"
DEMO_ADMIN = "admin@demo.local"


def png(width: int, height: int, rgb: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


DEMO_ASSETS: tuple[tuple[str, str, str, bytes], ...] = (
    ("demo-readme", "README.txt", "text/plain", b"Carton demo asset: plain text.\n"),
    ("demo-logo", "logo.png", "image/png", png(64, 64, (226, 120, 40))),
    ("demo-report", "report.csv", "text/csv", b"month,downloads\n2026-10,120\n2026-11,180\n"),
    ("demo-photo", "Fotografía ñandú.png", "image/png", png(320, 200, (40, 120, 226))),
)
