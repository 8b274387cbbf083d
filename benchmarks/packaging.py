"""Packaging throughput and memory, against a baseline measured in the same run.

(a) baseline: the same source bytes streamed into one S3 multipart upload, no ZIP work;
(b) Carton: the planned archive written by `carton.packaging.write_archive` (headers,
    CRC-32 checked while streaming, central directory).

S3 is moto's server in a separate process, so the worker's memory is measured alone.
Against moto, MB/s is bound by moto's single process; the ratio b/a and the peak RSS
are what carry over. CARTON_BENCH_SCALE (default 1.0) scales the sets.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import boto3

from carton.archive import Member, plan_archive
from carton.packaging import READ_CHUNK, MultipartSink, ThrottledProgress, write_archive

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024
BUCKET = "carton-bench"
ROUNDS = 2


@dataclass(frozen=True)
class Source:
    key: str
    size: int
    crc32: int


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, endpoint
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("moto server did not start")


def make_sources(s3: S3Client, prefix: str, sizes: list[int], rng: random.Random) -> list[Source]:
    sources = []
    for index, size in enumerate(sizes):
        data = rng.randbytes(size)
        key = f"{prefix}/{index:05d}.bin"
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        sources.append(Source(key, size, zlib.crc32(data)))
    return sources


def _stream(s3: S3Client, key: str) -> Iterable[bytes]:
    chunks: Iterable[bytes] = s3.get_object(Bucket=BUCKET, Key=key)["Body"].iter_chunks(READ_CHUNK)
    return chunks


def timed_upload(s3: S3Client, key: str, write: Callable[[MultipartSink], None]) -> tuple[float, int, int]:
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    sink = MultipartSink(s3, BUCKET, key, upload_id)
    with PeakRss() as rss:
        started = time.perf_counter()
        write(sink)
        s3.complete_multipart_upload(
            Bucket=BUCKET, Key=key, UploadId=upload_id, MultipartUpload={"Parts": sink.close()}
        )
        elapsed = time.perf_counter() - started
    return elapsed, sink.written, rss.peak


def run_set(s3: S3Client, name: str, sources: list[Source]) -> dict[str, object]:
    def baseline(sink: MultipartSink) -> None:
        for source in sources:
            for chunk in _stream(s3, source.key):
                sink.write(chunk)

    plan = plan_archive(
        [Member(f"{name}/{i:05d}.bin", s.size, s.crc32) for i, s in enumerate(sources)], datetime.now(UTC)
    )

    def carton(sink: MultipartSink) -> None:
        write_archive(plan, lambda i: _stream(s3, sources[i].key), sink, ThrottledProgress(lambda *_: None))

    # Interleaved and best of ROUNDS, so neither side profits from warming moto up.
    base_runs, carton_runs = [], []
    for _ in range(ROUNDS):
        base_runs.append(timed_upload(s3, f"out/{name}-baseline", baseline))
        carton_runs.append(timed_upload(s3, f"out/{name}.zip", carton))
    base_s, base_bytes, base_rss = min(base_runs)
    carton_s, carton_bytes, carton_rss = min(carton_runs)
    base_rss, carton_rss = max(r[2] for r in base_runs), max(r[2] for r in carton_runs)
    head = s3.head_object(Bucket=BUCKET, Key=f"out/{name}.zip")
    assert head["ContentLength"] == plan.size == carton_bytes
    base_mbs, carton_mbs = base_bytes / MiB / base_s, carton_bytes / MiB / carton_s
    return {
        "set": name,
        "files": len(sources),
        "MiB": round(carton_bytes / MiB, 1),
        "baseline MB/s": round(base_mbs, 1),
        "carton MB/s": round(carton_mbs, 1),
        "ratio b/a": round(carton_mbs / base_mbs, 2),
        "worker bytes / archive": round(carton_bytes / plan.size, 2),
        "peak RSS MiB (a)": round(base_rss / MiB),
        "peak RSS MiB (b)": round(carton_rss / MiB),
    }


def print_table(rows: list[dict[str, object]]) -> None:
    columns = list(rows[0])
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        print("  ".join(str(row[c]).ljust(w) for c, w in zip(columns, widths, strict=True)))


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
        small = [rng.randint(50_000, 2_000_000) for _ in range(max(1, int(150 * scale)))]
        large = [64 * MiB] * max(1, int(4 * scale))
        sets = {
            "small": make_sources(s3, "small", small, rng),
            "large": make_sources(s3, "large", large, rng),
        }
        sets["mix"] = sets["small"][: len(sets["small"]) // 2] + sets["large"][:2]
        print(f"Packaging on moto S3 (scale {scale}); (a) plain multipart copy, (b) Carton archive")
        print_table([run_set(s3, name, sources) for name, sources in sets.items()])
    finally:
        process.terminate()
        process.wait(timeout=10)
