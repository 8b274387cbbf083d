"""Packaging throughput, bytes through workers and memory, against a baseline and a peer
measured in the same run on the same sets; then the archives no default test builds
(> 4 GiB, > 65,535 entries), checked by zipfile, unzip, 7z and bsdtar.

(a) baseline: the same source bytes copied into one multipart upload by the same number
    of workers (ranged GET → UploadPart), no ZIP work;
(b) Carton: the planned archive (carton.packaging.assembly) assembled by workers running
    carton.packaging.workers.pack_parts — UploadPartCopy for large ranges, glue streamed;
(c) peer: a streaming zipper, as one would write it without Carton: one process GETs each
    source and pipes it through stream-zip (STORED members with their known sizes and
    CRC-32s, so no compression work and no buffering of a member) into one S3 multipart
    upload of GLUE_PART-sized parts. Every byte of the archive passes through it; its
    archive is read back by zipfile, unzip, 7z and bsdtar.

Each side runs in fresh processes (spawned: nothing inherited from this one), as Lambda
runs each in its own container; its time leaves out starting them (Lambda's init, which
runs in parallel on separate machines there and would queue for two cores here; the
`coldstart` benchmark measures it) and includes the rest: Carton's planning and assembly
(its prepare step), the parts, Complete and a HEAD. S3 is moto's server
in a separate process, so those processes' figures are the workers' own: bytes uploaded
through them, peak RSS and CPU seconds (user + system). Against moto, MB/s is bound by
moto's single process (a "server-side" copy is a memory copy there, Complete re-reads the
archive); what carries over to AWS is the ratio, the bytes and CPU that pass through
workers and flat memory. CARTON_BENCH_SCALE (default 1.0: 500 small files of 50 KB to
2 MB, 4 large of 128 MiB, and a mix of half of each; about 3 minutes on two cores) scales
the sets; CARTON_BENCH_BIG=1 adds the > 4 GiB and > 65,535-entry archives (tens of minutes).
"""

from __future__ import annotations

import functools
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
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

import boto3
from stream_zip import NO_COMPRESSION_64, stream_zip

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
PEER_READ = MiB  # the peer's read and stream-zip chunk size


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


@functools.cache
def _client(endpoint: str) -> S3Client:
    """One client per process and endpoint, made once, as a warm Lambda keeps its clients
    (carton.shared.aws); a client per group would cost each group ~50 ms of CPU."""
    client: S3Client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench"
    )
    return client


@dataclass(frozen=True)
class Workers:
    """What the processes of one run did: bytes uploaded through them, the largest one's
    peak RSS, their CPU seconds (user + system) added up, and the wall seconds it took to
    start them (the sides' times leave it out)."""

    moved: int
    peak: int
    cpu: float
    startup: float


def _in_worker(task: tuple[Callable[..., int], tuple[object, ...]]) -> tuple[int, int, float]:
    """Run one group in a worker process: (bytes moved, the process's peak RSS so far, its CPU
    seconds for the group)."""
    function, arguments = task
    began = time.process_time()
    moved = function(*arguments)
    return moved, _peak_rss(), time.process_time() - began


def _peak_rss() -> int:
    """This process's peak resident set (VmHWM; unlike ru_maxrss it starts afresh at exec)."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def _ready(endpoint: str) -> int:
    """A started worker: its imports done (this module's, by unpickling this function) and
    its S3 client made."""
    _client(endpoint)
    time.sleep(0.05)
    return os.getpid()


def run_workers(
    endpoint: str, tasks: list[tuple[Callable[..., int], tuple[object, ...]]], workers: int = WORKERS
) -> Workers:
    """Each group in one of `workers` fresh processes (spawned: nothing inherited from this one),
    as Lambda runs each in its own container, reused from group to group as a warm Lambda is.
    The processes are started, their modules imported and their clients made first, and that
    time is reported apart (Workers.startup): on Lambda each worker's init runs on its own
    machine, in parallel, where on this one it would queue for two cores (`python -m
    benchmarks coldstart` measures an init)."""
    began = time.perf_counter()
    count = min(workers, len(tasks))
    with ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn")) as pool:
        started: set[int] = set()
        while len(started) < count:
            started.update(pool.map(_ready, [endpoint] * count))
        startup = time.perf_counter() - began
        results = list(pool.map(_in_worker, tasks))
    return Workers(
        moved=sum(moved for moved, _, _ in results),
        peak=max(peak for _, peak, _ in results),
        cpu=sum(cpu for _, _, cpu in results),
        startup=startup,
    )


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


def baseline(endpoint: str, sources: list[Source], key: str) -> tuple[Workers, int]:
    """Copy the sources' bytes into one upload through the workers: (what they did, parts)."""
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
    done = run_workers(endpoint, tasks)
    _complete(s3, key, upload)
    return done, len(spans)


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
) -> tuple[Workers, PlanDocument]:
    """Plan and assemble the archive of the sources: (what the workers did, the plan)."""
    names = names or [f"{i:05d}.bin" for i in range(len(sources))]
    members = [Member(name, s.size, crcs[s.key]) for name, s in zip(names, sources, strict=True)]
    plan = plan_archive(members, datetime.now(UTC))
    assembly = assemble(plan, sources)
    s3 = _client(endpoint)
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    document = document_of(assembly, key, upload, sources, [True] * len(sources))
    groups = assembly.groups()
    done = run_workers(endpoint, [(_carton_parts, (endpoint, document, first, last)) for first, last in groups])
    _complete(s3, key, upload)
    size = s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"]
    if size != document.size:
        raise AssertionError(f"{key}: {size} bytes, planned {document.size}")
    return done, document


# (name in the archive, source key, ETag, size, CRC-32): what the peer is handed per file.
PeerMember = tuple[str, str, str, int, int]


def _peer_zip(endpoint: str, key: str, members: list[PeerMember]) -> int:
    """The peer, in its own process: each source read whole with one GET (pinned to its ETag),
    streamed through stream-zip into parts of GLUE_PART bytes of one multipart upload.
    Returns the bytes it uploaded (the whole archive)."""
    s3 = _client(endpoint)
    modified = datetime.now(UTC)

    def body(source_key: str, etag: str) -> Iterator[bytes]:
        stream = s3.get_object(Bucket=BUCKET, Key=source_key, IfMatch=etag)["Body"]
        yield from stream.iter_chunks(PEER_READ)

    files = (
        (name, modified, 0o644, NO_COMPRESSION_64(size, crc), body(source_key, etag))
        for name, source_key, etag, size, crc in members
    )
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    parts: list[CompletedPartTypeDef] = []
    buffer, moved = bytearray(), 0

    def flush() -> None:
        number = len(parts) + 1
        etag = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=number, Body=cast(bytes, buffer))
        parts.append({"PartNumber": number, "ETag": etag["ETag"]})

    for chunk in stream_zip(files, chunk_size=PEER_READ):
        buffer += chunk
        if len(buffer) >= GLUE_PART:
            flush()
            moved += len(buffer)
            buffer = bytearray()
    if buffer or not parts:
        flush()
        moved += len(buffer)
    s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload, MultipartUpload={"Parts": parts})
    return moved


def peer(endpoint: str, sources: list[Source], key: str, names: list[str]) -> tuple[Workers, int]:
    """(c) the streaming zipper in one fresh process: (what it did, its archive's size)."""
    members = [(name, s.key, s.etag, s.size, crcs[s.key]) for name, s in zip(names, sources, strict=True)]
    done = run_workers(endpoint, [(_peer_zip, (endpoint, key, members))], workers=1)
    size = _client(endpoint).head_object(Bucket=BUCKET, Key=key)["ContentLength"]
    if done.moved != size:
        raise AssertionError(f"{key}: {size} bytes, the peer uploaded {done.moved}")
    return done, size


def check_peer(s3: S3Client, key: str, names: list[str]) -> list[str]:
    """The peer's archive, read back by every reader on this machine (tests/archives.py)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "peer.zip"
        with path.open("wb") as out:
            for chunk in s3.get_object(Bucket=BUCKET, Key=key)["Body"].iter_chunks(8 * MiB):
                out.write(chunk)
        return verify_archive(path, names)


def run_set(endpoint: str, name: str, sources: list[Source]) -> tuple[dict[str, object], dict[str, object]]:
    """(a), (b) and (c) on one set, interleaved, best of ROUNDS each (neither side profits from
    warming moto up): a row of throughput and a row of what went through each side's processes."""
    names = [f"{i:05d}.bin" for i in range(len(sources))]
    runs_a: list[tuple[float, Workers, int]] = []
    runs_b: list[tuple[float, Workers, PlanDocument]] = []
    runs_c: list[tuple[float, Workers, int]] = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        done_a, parts = baseline(endpoint, sources, f"out/{name}-baseline")
        runs_a.append((time.perf_counter() - started - done_a.startup, done_a, parts))
        started = time.perf_counter()
        done_b, document = carton(endpoint, sources, f"out/{name}.zip", names)
        runs_b.append((time.perf_counter() - started - done_b.startup, done_b, document))
        started = time.perf_counter()
        done_c, size_c = peer(endpoint, sources, f"out/{name}-peer.zip", names)
        runs_c.append((time.perf_counter() - started - done_c.startup, done_c, size_c))
    readers = check_peer(_client(endpoint), f"out/{name}-peer.zip", names)
    seconds_a, done_a, _ = min(runs_a, key=lambda run: run[0])
    seconds_b, done_b, document = min(runs_b, key=lambda run: run[0])
    seconds_c, done_c, size_c = min(runs_c, key=lambda run: run[0])
    total = sum(s.size for s in sources)
    copies = sum(1 for part in document.parts if part.is_copy)
    speed = {
        "set": name,
        "files": len(sources),
        "MiB": round(document.size / MiB),
        "MB/s (a)": round(total / MiB / seconds_a, 1),
        "MB/s (b)": round(document.size / MiB / seconds_b, 1),
        "MB/s (c)": round(size_c / MiB / seconds_c, 1),
        "ratio b/a": round((document.size / seconds_b) / (total / seconds_a), 2),
        "speed-up b/c": round(seconds_c / seconds_b, 2),
        "parts": len(document.parts),
        "copy parts": copies,
        "peer archive read by": ", ".join(readers),
    }
    through = {
        "set": name,
        "MiB through (a)": round(done_a.moved / MiB),
        "MiB through (b)": round(done_b.moved / MiB),
        "MiB through (c)": round(done_c.moved / MiB),
        "b/c bytes": f"{done_b.moved / done_c.moved:.1%}",
        "worker bytes / archive (b)": f"{done_b.moved / document.size:.1%}",
        "CPU s (a)": round(done_a.cpu, 1),
        "CPU s (b)": round(done_b.cpu, 1),
        "CPU s (c)": round(done_c.cpu, 1),
        "RSS MiB (a)": done_a.peak // MiB,
        "RSS MiB (b)": done_b.peak // MiB,
        "RSS MiB (c)": done_c.peak // MiB,
    }
    return speed, through


def print_targets(rows: list[tuple[dict[str, object], dict[str, object]]]) -> None:
    """Each target against what this run measured."""
    speed = {str(row["set"]): row for row, _ in rows}
    through = {str(row["set"]): row for _, row in rows}

    def percent(value: object) -> float:
        return float(str(value).rstrip("%"))

    checks = [
        ("ratio b/a on small", float(str(speed["small"]["ratio b/a"])), ">=", 0.8),
        ("speed-up b/c on large", float(str(speed["large"]["speed-up b/c"])), ">=", 3.0),
        ("speed-up b/c on small", float(str(speed["small"]["speed-up b/c"])), ">=", 1.0),
        ("worker bytes b/c on large, %", percent(through["large"]["b/c bytes"]), "<=", 5.0),
        ("worker bytes / archive (b) on large, %", percent(through["large"]["worker bytes / archive (b)"]), "<=", 5.0),
        ("peak worker RSS (b), MiB", max(float(str(row["RSS MiB (b)"])) for _, row in rows), "<=", 256.0),
    ]
    print("targets:")
    for label, value, sign, bound in checks:
        met = value >= bound if sign == ">=" else value <= bound
        print(f"  {label}: {value:g} (target {sign} {bound:g}) {'met' if met else 'NOT MET'}")


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
            done, document = carton(endpoint, sources, key, names)
            path = Path(folder) / "archive.zip"
            # One streamed GET: moto serves ranged GETs of multi-GiB objects slowly.
            with path.open("wb") as out:
                for chunk in s3.get_object(Bucket=BUCKET, Key=key)["Body"].iter_chunks(8 * MiB):
                    out.write(chunk)
            readers = verify_archive(path)
            print(
                f"{label}: {document.size / 2**30:.2f} GiB, {len(sources):,} files, {len(document.parts)} parts, "
                f"{done.moved / document.size:.1%} through workers, worker RSS {done.peak // MiB} MiB, "
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
            s3, "small", [rng.randint(50_000, 2_000_000) for _ in range(max(1, int(500 * scale)))], rng
        )
        large = make_sources(s3, "large", [128 * MiB] * max(1, int(4 * scale)), rng)
        sets = {"small": small, "large": large, "mix": small[: len(small) // 2] + large[: max(1, len(large) // 2)]}
        print(
            f"Packaging on moto S3 (scale {scale}): (a) plain multipart copy by {WORKERS} workers, "
            f"(b) Carton's archive by {WORKERS} workers, (c) peer: one process streaming the ZIP (stream-zip)"
        )
        rows = [run_set(endpoint, name, sources) for name, sources in sets.items()]
        print_table([speed for speed, _ in rows])
        print("through each side's own processes (bytes uploaded; CPU user + system, all processes; largest RSS):")
        print_table([through for _, through in rows])
        print_targets(rows)
        if os.environ.get("CARTON_BENCH_BIG", "0") != "0":
            big_archives(endpoint, s3, rng)
    finally:
        process.terminate()
        process.wait(timeout=10)
