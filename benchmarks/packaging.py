"""Packaging throughput, bytes through workers and memory, against a baseline measured in
the same run; then the archives no default test builds (> 4 GiB, > 65,535 entries),
checked by zipfile, unzip, 7z and bsdtar.

(a) baseline: the same source bytes copied into one multipart upload by the same number
    of workers (ranged GET → UploadPart), no ZIP work;
(b) Carton: the planned archive (carton.packaging.assembly) assembled by workers running
    carton.packaging.workers.pack_parts — UploadPartCopy for large ranges, glue streamed.

S3 is moto's server in a separate process, so this process is the workers' memory.
Against moto, MB/s is bound by moto's single process (a "server-side" copy is a memory
copy there); what carries over to AWS is the ratio, the bytes that pass through workers
and flat memory. CARTON_BENCH_SCALE (default 1.0) scales the sets; CARTON_BENCH_BIG=0
skips the > 4 GiB and > 65,535-entry archives.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

import boto3

from carton.packaging.assembly import GLUE_PART, Source, assemble
from carton.packaging.formats.base import Member
from carton.packaging.formats.zip import plan_archive
from carton.packaging.workers import PlanDocument, document_of, pack_parts
from tests.archives import verify_archive

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

MiB = 1024 * 1024
BUCKET = "carton-bench"
WORKERS = 8
ROUNDS = 2


def start_moto(
    environment: Mapping[str, str] | None = None, module: str = "moto.server"
) -> tuple[subprocess.Popen[bytes], str]:
    """moto's server in its own process (`environment`: moto settings, e.g. S3_UPLOAD_PART_MIN_SIZE;
    `module`: the server to run, e.g. benchmarks.moto_server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    process = subprocess.Popen(
        [sys.executable, "-m", module, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(environment or {})},
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


def _client(endpoint: str) -> S3Client:
    client: S3Client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench"
    )
    return client


def _in_worker(task: tuple[Callable[..., int], tuple[object, ...]]) -> tuple[int, int]:
    """Run one group in a worker process: (bytes moved, the process's peak RSS so far)."""
    function, arguments = task
    moved = function(*arguments)
    return moved, _peak_rss()


def _peak_rss() -> int:
    """This process's peak resident set (VmHWM; unlike ru_maxrss it starts afresh at exec)."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def run_workers(tasks: list[tuple[Callable[..., int], tuple[object, ...]]]) -> tuple[int, int]:
    """Each group in one of WORKERS fresh processes (spawned: nothing inherited from this one),
    as Lambda runs each in its own container:
    (total bytes moved, the largest worker's peak RSS)."""
    with ProcessPoolExecutor(max_workers=WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(_in_worker, tasks))
    return sum(moved for moved, _ in results), max(peak for _, peak in results)


def _baseline_parts(
    endpoint: str, key: str, upload: str, spans: list[list[tuple[Source, int, int]]], first: int
) -> int:
    s3, moved = _client(endpoint), 0
    for offset, part in enumerate(spans):
        data = bytearray()
        for source, start, end in part:
            data += s3.get_object(Bucket=BUCKET, Key=source.key, Range=f"bytes={start}-{end - 1}")["Body"].read()
        s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=first + offset, Body=cast(bytes, data))
        moved += len(data)
    return moved


def baseline(endpoint: str, sources: list[Source], key: str) -> tuple[int, int, int]:
    """Copy the sources' bytes into one upload through the workers: (bytes, parts, peak RSS)."""
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
    s3 = _client(endpoint)
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    per = math.ceil(len(spans) / WORKERS)
    tasks: list[tuple[Callable[..., int], tuple[object, ...]]] = [
        (_baseline_parts, (endpoint, key, upload, spans[i : i + per], i + 1)) for i in range(0, len(spans), per)
    ]
    moved, peak = run_workers(tasks)
    _complete(s3, key, upload)
    return moved, len(spans), peak


def _carton_parts(endpoint: str, document: PlanDocument, first: int, last: int) -> int:
    return pack_parts(_client(endpoint), document, first, last, BUCKET, BUCKET).streamed_bytes


def _complete(s3: S3Client, key: str, upload: str) -> None:
    parts: list[CompletedPartTypeDef] = [
        {"PartNumber": p["PartNumber"], "ETag": p["ETag"]}
        for page in s3.get_paginator("list_parts").paginate(Bucket=BUCKET, Key=key, UploadId=upload)
        for p in page.get("Parts", [])
    ]
    s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload, MultipartUpload={"Parts": parts})


def carton(
    endpoint: str, sources: list[Source], key: str, names: list[str] | None = None
) -> tuple[int, PlanDocument, int]:
    """Plan and assemble the archive of the sources: (bytes through workers, plan, peak worker RSS)."""
    names = names or [f"{i:05d}.bin" for i in range(len(sources))]
    members = [Member(name, s.size, crcs[s.key]) for name, s in zip(names, sources, strict=True)]
    plan = plan_archive(members, datetime.now(UTC))
    assembly = assemble(plan, sources)
    s3 = _client(endpoint)
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    document = document_of(assembly, key, upload, sources, [True] * len(sources))
    moved, peak = run_workers([(_carton_parts, (endpoint, document, first, last)) for first, last in assembly.groups()])
    _complete(s3, key, upload)
    size = s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"]
    if size != document.size:
        raise AssertionError(f"{key}: {size} bytes, planned {document.size}")
    return moved, document, peak


def run_set(endpoint: str, name: str, sources: list[Source]) -> dict[str, object]:
    runs_a: list[tuple[float, int, int, int]] = []
    runs_b: list[tuple[float, int, PlanDocument, int]] = []
    for _ in range(ROUNDS):  # interleaved, best of ROUNDS: neither side profits from warming moto up
        started = time.perf_counter()
        moved, parts, peak = baseline(endpoint, sources, f"out/{name}-baseline")
        runs_a.append((time.perf_counter() - started, moved, parts, peak))
        started = time.perf_counter()
        moved_b, document, peak = carton(endpoint, sources, f"out/{name}.zip")
        runs_b.append((time.perf_counter() - started, moved_b, document, peak))
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
        "worker RSS MiB (a)": max(run[3] for run in runs_a) // MiB,
        "worker RSS MiB (b)": max(run[3] for run in runs_b) // MiB,
        "parts": len(document.parts),
        "copy parts": copies,
    }


def print_table(rows: list[dict[str, object]]) -> None:
    columns = list(rows[0])
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        print("  ".join(str(row[c]).ljust(w) for c, w in zip(columns, widths, strict=True)), flush=True)


def big_archives(endpoint: str, s3: S3Client, rng: random.Random) -> None:
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
            moved, document, peak = carton(endpoint, sources, key, names)
            path = Path(folder) / "archive.zip"
            # One streamed GET: moto serves ranged GETs of multi-GiB objects slowly.
            with path.open("wb") as out:
                for chunk in s3.get_object(Bucket=BUCKET, Key=key)["Body"].iter_chunks(8 * MiB):
                    out.write(chunk)
            readers = verify_archive(path)
            print(
                f"{label}: {document.size / 2**30:.2f} GiB, {len(sources):,} files, {len(document.parts)} parts, "
                f"{moved / document.size:.1%} through workers, worker RSS {peak // MiB} MiB, "
                f"accepted by {', '.join(readers)} "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
            path.unlink()


def main() -> None:
    scale = float(os.environ.get("CARTON_BENCH_SCALE", "1.0"))
    rng = random.Random(20261123)
    process, endpoint = start_moto()
    try:
        s3 = _client(endpoint)
        s3.create_bucket(Bucket=BUCKET)
        small = make_sources(
            s3, "small", [rng.randint(50_000, 2_000_000) for _ in range(max(1, int(2000 * scale)))], rng
        )
        large = make_sources(s3, "large", [128 * MiB] * max(1, int(16 * scale)), rng)
        sets = {"small": small, "large": large, "mix": small[: len(small) // 2] + large[: max(1, len(large) // 2)]}
        print(f"Packaging on moto S3, {WORKERS} workers (scale {scale}); (a) plain multipart copy, (b) Carton archive")
        print_table([run_set(endpoint, name, sources) for name, sources in sets.items()])
        print("targets: ratio b/a >= 0.8 on small; worker bytes <= 5 % on large; peak RSS <= 256 MiB")
        if os.environ.get("CARTON_BENCH_BIG", "1") != "0":
            big_archives(endpoint, s3, rng)
    finally:
        process.terminate()
        process.wait(timeout=10)
