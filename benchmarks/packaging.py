"""Packaging throughput, bytes through workers and memory, against a baseline measured in
the same run; then the archives no default test builds (> 4 GiB, > 65,535 entries),
checked by zipfile, unzip, 7z and bsdtar.

(a) baseline: the same source bytes copied into one multipart upload by the same number
    of workers (ranged GET → UploadPart), no ZIP work;
(b) Carton: the planned archive (carton.assembly) assembled by workers running
    carton.packaging.pack_parts — UploadPartCopy for large ranges, glue streamed.

S3 is moto's server in a separate process, so this process is the workers' memory.
Against moto, MB/s is bound by moto's single process (a "server-side" copy is a memory
copy there); what carries over to AWS is the ratio, the bytes that pass through workers
and flat memory. CARTON_BENCH_SCALE (default 1.0) scales the sets; CARTON_BENCH_BIG=0
skips the > 4 GiB and > 65,535-entry archives.
"""

from __future__ import annotations

import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import boto3

from carton.archive import Member, plan_archive
from carton.assembly import GLUE_PART, Source, assemble
from carton.packaging import PlanDocument, document_of, pack_parts
from carton_local.archives import verify_archive

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

MiB = 1024 * 1024
BUCKET = "carton-bench"
WORKERS = 8
ROUNDS = 2


class PeakRss:
    """Samples this process's resident set size while a block runs."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval, self.peak, self._stop = interval, 0, threading.Event()

    @staticmethod
    def current() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self.peak = self.current()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("moto server did not start")


def make_sources(s3: S3Client, prefix: str, sizes: list[int], rng: random.Random) -> list[Source]:
    """Objects of the given sizes (repeating random blocks: cheap to make, still checked)."""
    block = rng.randbytes(MiB)
    sources = []
    for index, size in enumerate(sizes):
        data = (block * (size // MiB + 1))[:size]
        key = f"{prefix}/{index:05d}.bin"
        etag = s3.put_object(Bucket=BUCKET, Key=key, Body=data)["ETag"]
        sources.append(Source(key, etag, size))
        crcs[key] = zlib.crc32(data)
    return sources


crcs: dict[str, int] = {}


def run_workers(groups: list[tuple[int, int]], work: Callable[[int, int], int]) -> int:
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return sum(pool.map(lambda group: work(*group), groups))


def baseline(s3: S3Client, sources: list[Source], key: str) -> tuple[int, int]:
    """Copy the sources' bytes into one upload through the workers: (bytes, parts)."""
    spans: list[list[tuple[Source, int, int]]] = [[]]
    filled = 0
    for source in sources:
        start = 0
        while start < source.size:
            take = min(source.size - start, GLUE_PART - filled)
            spans[-1].append((source, start, start + take))
            start, filled = start + take, filled + take
            if filled == GLUE_PART:
                spans.append([])
                filled = 0
    spans = [part for part in spans if part]
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    etags: dict[int, str] = {}

    def work(first: int, last: int) -> int:
        moved = 0
        for number in range(first, last + 1):
            data = b"".join(
                s3.get_object(Bucket=BUCKET, Key=s.key, Range=f"bytes={a}-{b - 1}")["Body"].read()
                for s, a, b in spans[number - 1]
            )
            etags[number] = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=number, Body=data)[
                "ETag"
            ]
            moved += len(data)
        return moved

    per = math.ceil(len(spans) / WORKERS)
    moved = run_workers([(i + 1, min(i + per, len(spans))) for i in range(0, len(spans), per)], work)
    s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key=key,
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]},
    )
    return moved, len(spans)


def carton(s3: S3Client, sources: list[Source], key: str, names: list[str] | None = None) -> tuple[int, PlanDocument]:
    """Plan and assemble the archive of the sources: (bytes through workers, plan)."""
    names = names or [f"{i:05d}.bin" for i in range(len(sources))]
    members = [Member(name, s.size, crcs[s.key]) for name, s in zip(names, sources, strict=True)]
    plan = plan_archive(members, datetime.now(UTC))
    assembly = assemble(plan, sources)
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    document = document_of(assembly, key, upload, sources, [True] * len(sources))
    moved = run_workers(
        assembly.groups(), lambda first, last: pack_parts(s3, document, first, last, BUCKET, BUCKET).streamed_bytes
    )
    parts: list[CompletedPartTypeDef] = [
        {"PartNumber": p["PartNumber"], "ETag": p["ETag"]}
        for page in s3.get_paginator("list_parts").paginate(Bucket=BUCKET, Key=key, UploadId=upload)
        for p in page.get("Parts", [])
    ]
    s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload, MultipartUpload={"Parts": parts})
    size = s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"]
    if size != document.size:
        raise AssertionError(f"{key}: {size} bytes, planned {document.size}")
    return moved, document


def run_set(s3: S3Client, name: str, sources: list[Source]) -> dict[str, object]:
    runs_a, runs_b = [], []
    for _ in range(ROUNDS):  # interleaved, best of ROUNDS: neither side profits from warming moto up
        with PeakRss() as rss:
            started = time.perf_counter()
            moved, parts = baseline(s3, sources, f"out/{name}-baseline")
            runs_a.append((time.perf_counter() - started, moved, parts, rss.peak))
        with PeakRss() as rss:
            started = time.perf_counter()
            moved, document = carton(s3, sources, f"out/{name}.zip")
            runs_b.append((time.perf_counter() - started, moved, document, rss.peak))
    seconds_a = min(run[0] for run in runs_a)
    seconds_b, moved_b, document = min(runs_b, key=lambda run: run[0])[:3]
    total = sum(s.size for s in sources)
    copies = sum(1 for part in document.parts if part.is_copy)
    return {
        "set": name,
        "files": len(sources),
        "MiB": round(document.size / MiB),
        "MB/s (a)": round(total / MiB / seconds_a, 1),
        "MB/s (b)": round(document.size / MiB / seconds_b, 1),
        "ratio b/a": round((document.size / seconds_b) / (total / seconds_a), 2),
        "worker bytes / archive": f"{moved_b / document.size:.1%}",
        "peak RSS MiB": max(run[3] for run in runs_a + runs_b) // MiB,
        "parts": len(document.parts),
        "copy parts": copies,
    }


def print_table(rows: list[dict[str, object]]) -> None:
    columns = list(rows[0])
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        print("  ".join(str(row[c]).ljust(w) for c, w in zip(columns, widths, strict=True)), flush=True)


def big_archives(s3: S3Client, rng: random.Random) -> None:
    """The archives the default tests never build, read back by all four readers."""
    cases = {
        "over 4 GiB (ZIP64 sizes and offsets)": (
            make_sources(s3, "big", [1536 * MiB, 1536 * MiB, 20, 1300 * MiB], rng),
            ["a.bin", "b.bin", "tiny.txt", "c.bin"],
        ),
        "over 65,535 entries (ZIP64 end records)": (
            make_sources(s3, "many", [rng.randint(0, 64) for _ in range(70_000)], rng),
            None,
        ),
    }
    with tempfile.TemporaryDirectory() as folder:
        for label, (sources, names) in cases.items():
            started = time.perf_counter()
            key = f"out/{label[:8].replace(' ', '-')}.zip"
            moved, document = carton(s3, sources, key, names)
            path = Path(folder) / "archive.zip"
            s3.download_file(BUCKET, key, str(path))
            readers = verify_archive(path)
            print(
                f"{label}: {document.size / 2**30:.2f} GiB, {len(sources):,} files, {len(document.parts)} parts, "
                f"{moved / document.size:.1%} through workers, accepted by {', '.join(readers)} "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
            path.unlink()


def main() -> None:
    scale = float(os.environ.get("CARTON_BENCH_SCALE", "1.0"))
    rng = random.Random(20261123)
    process, endpoint = start_moto()
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        s3.create_bucket(Bucket=BUCKET)
        small = make_sources(
            s3, "small", [rng.randint(50_000, 2_000_000) for _ in range(max(1, int(2000 * scale)))], rng
        )
        large = make_sources(s3, "large", [128 * MiB] * max(1, int(16 * scale)), rng)
        sets = {"small": small, "large": large, "mix": small[: len(small) // 2] + large[: max(1, len(large) // 2)]}
        print(f"Packaging on moto S3, {WORKERS} workers (scale {scale}); (a) plain multipart copy, (b) Carton archive")
        print_table([run_set(s3, name, sources) for name, sources in sets.items()])
        print("targets: ratio b/a >= 0.8 on small; worker bytes <= 5 % on large; peak RSS <= 256 MiB")
        if os.environ.get("CARTON_BENCH_BIG", "1") != "0":
            big_archives(s3, rng)
    finally:
        process.terminate()
        process.wait(timeout=10)
