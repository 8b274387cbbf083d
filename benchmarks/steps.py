"""The workflow's prepare and complete steps at the largest plans: time and memory, so
that the Lambda functions' memory and timeouts can be set with headroom.

Two cases, on the same 10,000 assets (MAX_ASSETS_PER_DOWNLOAD, the most one download
may name):
  targets  one download of all 10,000 assets with the real part sizes: 10,000 targets,
           a few glue parts (small assets fill 8 MiB glue parts);
  parts    the same download with every part size scaled down 1,024 times (5 KiB
           minimum part, 8 KiB glue parts, 16 KiB copy threshold), so that the plan
           reaches ~10,000 parts (S3's limit) without moving ~80 GB: what prepare and
           complete do per part (plan JSON, ListParts pages, the Complete request) does
           not depend on the part's size. moto is told to accept the small parts.

Each step runs as Lambda runs it: the function's handler in a fresh process (spawned,
nothing inherited), so its peak RSS (VmHWM) is the function's memory use; time (wall and
CPU) is the invocation after the handler module is loaded and the S3 and DynamoDB
clients are made (Lambda's init). Each AWS call is counted and timed (summed over
threads), to show where the time goes. A second pass on a second download runs each
step under tracemalloc for the Python heap peak (tracemalloc slows it, so its time is
not reported). The workers between the two steps run in a process pool and are not
measured here (see packaging).

S3 and DynamoDB are moto's server in another process on this machine: every call is
a local HTTP round trip to a single Python process, which is slower than AWS for
DynamoDB batches and ListParts pages, and faster than AWS for nothing in particular.
The figures are an upper bound on work per step, not a prediction of AWS latency.
(The server is benchmarks.moto_server: moto without its copy of the whole table on every
transaction, which at this table size would dwarf everything else.)

`python -m benchmarks steps` runs only this; CARTON_BENCH_SCALE scales the asset count
(0.1: 1,000 assets, quick); CARTON_BENCH_TRACE=0 skips the tracemalloc pass;
CARTON_BENCH_CASES=parts (or targets) runs one case.
"""

from __future__ import annotations

import hashlib
import importlib
import multiprocessing
import os
import random
import subprocess
import threading
import time
import tracemalloc
import zlib
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from benchmarks.packaging import MiB, _peak_rss, print_table, start_moto

ACCOUNT = "bench"
# So that 10,000 of them (with their headers, central directory and manifest entries)
# fill just under 10,000 scaled 8 KiB glue parts: the 10,000-part case.
ASSET_SIZE = 7_830
SCALE_DOWN = 1024  # the parts case's part sizes: real sizes / SCALE_DOWN
SEED_THREADS = 16
PACK_WORKERS = 8
FUNCTIONS: dict[str, Any] = {}  # per process: loaded handler modules, as a warm Lambda keeps them


def _environment(endpoint: str) -> None:
    """This process and the processes it spawns talk to moto's server, as Lambda would to AWS."""
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )


def _configure(table: str, buckets: dict[str, str], state_machine: str) -> None:
    from carton.shared import aws, config

    os.environ.update(
        {
            config.ENV_TABLE: table,
            config.ENV_ASSETS_BUCKET: buckets["assets"],
            config.ENV_ARCHIVES_BUCKET: buckets["archives"],
            config.ENV_STATE_MACHINE: state_machine,
        }
    )
    config.settings.cache_clear()
    aws.reset()


def seed(count: int, rng: random.Random) -> list[str]:
    """`count` assets: S3 objects (CRC-32 checksums, as ingest stores them) and records
    written with BatchWriteItem (moto copies the whole table on every transaction, so
    the import path's TransactWriteItems would take hours at this size)."""
    from carton.assets.models import Asset
    from carton.assets.repository import asset_item
    from carton.shared import aws
    from carton.shared.config import settings
    from carton.store import Store

    s3, bucket = aws.s3(), settings().assets_bucket
    block = rng.randbytes(ASSET_SIZE * 2)

    def put(index: int) -> Asset:
        asset_id = f"A{index:016X}"
        data = block[index % ASSET_SIZE :][:ASSET_SIZE]
        key = f"assets/{ACCOUNT}/{asset_id}/IMG_{index:05d}.jpg"
        stored = s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="image/jpeg", ChecksumAlgorithm="CRC32")
        return Asset(
            account_id=ACCOUNT,
            asset_id=asset_id,
            filename=f"IMG_{index:05d}.jpg",
            content_type="image/jpeg",
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            crc32=zlib.crc32(data),
            etag=stored["ETag"],
            s3_key=key,
        )

    with ThreadPoolExecutor(max_workers=SEED_THREADS) as pool:
        assets = list(pool.map(put, range(count)))
    with Store().table.batch_writer() as batch:
        for asset in assets:
            batch.put_item(Item=asset_item(asset))
    return [asset.asset_id for asset in assets]


def new_download(asset_ids: list[str], label: str) -> str:
    """A pending download as POST /downloads leaves it (its planned targets included)."""
    from carton.downloads.models import Download, Target
    from carton.store import Store

    download_id = hashlib.sha256(f"{label}{time.time_ns()}".encode()).hexdigest()[:32]
    download = Download(
        account_id=ACCOUNT,
        download_id=download_id,
        created_by="bench",
        created_by_email="bench@example.com",
        name=label,
        zip_filename=f"{label}.zip",
        layout="flat",
        download_type="archive",
        asset_ids=asset_ids,
    )
    planned = [
        Target(download_id=download_id, asset_id=asset_id, position=position)
        for position, asset_id in enumerate(asset_ids)
    ]
    Store().create_download(download, planned)
    return download_id


def _scale_parts_down() -> None:
    """Every part size in carton.packaging.assembly divided by SCALE_DOWN (this process only)."""
    from carton.packaging import assembly

    for name in ("MiB", "MIN_PART", "MAX_PART", "GLUE_PART", "COPY_THRESHOLD"):
        setattr(assembly, name, getattr(assembly, name) // SCALE_DOWN)


def _invoke(name: str, event: dict[str, Any]) -> Any:
    from carton_local.lambdas import FunctionError, LocalFunctions

    functions = FUNCTIONS.setdefault("functions", LocalFunctions())
    try:
        return functions.invoke(name, event)
    except FunctionError as error:  # its payload does not cross the process boundary
        raise RuntimeError(f"{name}: {error.payload['errorType']}: {error.payload['errorMessage']}") from None


def _rss() -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def _count_calls() -> dict[str, list[float]]:
    """AWS operation → [calls, summed seconds] for the S3 and DynamoDB clients Carton uses
    (summed over threads: 16 HEADs at once count 16 times)."""
    from carton.shared import aws

    calls: dict[str, list[float]] = {}
    lock = threading.Lock()

    def before(context: dict[str, Any], **_: Any) -> None:
        context["bench_started"] = time.perf_counter()

    def after(context: dict[str, Any], model: Any, **_: Any) -> None:
        started = context.pop("bench_started", None)
        if started is not None:
            with lock:
                entry = calls.setdefault(model.name, [0, 0.0])
                entry[0] += 1
                entry[1] += time.perf_counter() - started

    for client in (aws.s3(), aws.dynamodb().meta.client):
        client.meta.events.register("before-call", before)
        client.meta.events.register("after-call", after)
    return calls


def _measure(name: str, event: dict[str, Any], scaled: bool, trace: bool) -> dict[str, Any]:
    """In a fresh process: load the handler and create the clients (Lambda's init), then
    time one invocation."""
    if scaled:
        _scale_parts_down()
    from carton_local.lambdas import FunctionError, LocalFunctions

    functions = FUNCTIONS.setdefault("functions", LocalFunctions())
    functions._release(name, functions._acquire(name))  # the init phase: imports, module state
    calls = _count_calls()
    init_rss = _rss()
    if trace:
        tracemalloc.start()
    started, cpu = time.perf_counter(), time.process_time()
    try:
        result = functions.invoke(name, event)
    except FunctionError as error:  # its payload does not cross the process boundary
        raise RuntimeError(f"{name}: {error.payload['errorType']}: {error.payload['errorMessage']}") from None
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    traced = tracemalloc.get_traced_memory()[1] if trace else 0
    tracemalloc.stop()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "peak": _peak_rss(),
        "init": init_rss,
        "traced": traced,
        "calls": calls,
        "result": result,
    }


def in_fresh_process(name: str, event: dict[str, Any], scaled: bool = False, trace: bool = False) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_measure, name, event, scaled, trace).result()


def pack(download_id: str, groups: list[dict[str, int]]) -> float:
    """The Pack map: every group by PACK_WORKERS worker processes. Returns seconds."""
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    events = [{"account_id": ACCOUNT, "download_id": download_id, **group} for group in groups]
    with ProcessPoolExecutor(max_workers=PACK_WORKERS, mp_context=context) as pool:
        list(pool.map(_invoke, ["workflow_pack"] * len(events), events))
    return time.perf_counter() - started


def _summary(measured: dict[str, Any]) -> str:
    """Time, memory and the AWS calls that took longest (seconds summed over threads)."""
    calls = sorted(measured["calls"].items(), key=lambda item: -item[1][1])
    busiest = ", ".join(f"{name} {int(count):,}x {seconds:.1f} s" for name, (count, seconds) in calls[:5])
    memory = (
        f"tracemalloc peak {measured['traced'] / MiB:.1f} MiB"
        if measured["traced"]
        else f"peak RSS {measured['peak'] // MiB} MiB"
    )
    return f"{measured['seconds']:.1f} s (CPU {measured['cpu']:.1f} s), {memory}; calls: {busiest}"


@dataclass
class Case:
    name: str
    scaled: bool


CASES = [Case("targets", scaled=False), Case("parts", scaled=True)]


def run_case(case: Case, asset_ids: list[str], trace: bool) -> list[dict[str, object]]:
    from carton.shared import aws
    from carton.shared.config import settings
    from carton.storage.objects import plan_key
    from carton.store import Store

    label = f"{case.name}{' (tracemalloc)' if trace else ''}"
    download_id = new_download(asset_ids, f"bench-{case.name}{'-traced' if trace else ''}")
    event = {"account_id": ACCOUNT, "download_id": download_id}
    prepared = in_fresh_process("workflow_prepare", event, case.scaled, trace)
    state = prepared["result"]
    print(f"  {label}: prepare {_summary(prepared)}, {state['parts']:,} parts", flush=True)
    head = aws.s3().head_object(Bucket=settings().archives_bucket, Key=plan_key(ACCOUNT, download_id))
    pack_seconds = pack(download_id, state["groups"])
    print(f"  {label}: pack {pack_seconds:.0f} s", flush=True)
    completed = in_fresh_process("workflow_complete", event, case.scaled, trace)
    print(f"  {label}: complete {_summary(completed)}", flush=True)
    download = Store().get_download(ACCOUNT, download_id)
    if completed["result"]["state"] != "complete" or download.size is None:
        raise AssertionError(f"{case.name}: the download did not complete: {completed['result']}")
    rows = []
    for step, measured in (("prepare", prepared), ("complete", completed)):
        rows.append(
            {
                "case": case.name,
                "targets": f"{download.target_count:,}",
                "parts": f"{state['parts']:,}",
                "groups": len(state["groups"]),
                "plan KiB": head["ContentLength"] // 1024,
                "step": step,
                "seconds": "-" if trace else f"{measured['seconds']:.1f}",
                "CPU s": "-" if trace else f"{measured['cpu']:.1f}",
                "peak RSS MiB": "-" if trace else measured["peak"] // MiB,
                "RSS after init MiB": "-" if trace else measured["init"] // MiB,
                "tracemalloc peak MiB": f"{measured['traced'] / MiB:.1f}" if trace else "-",
                "pack s (8 workers)": f"{pack_seconds:.0f}" if step == "prepare" else "",
            }
        )
    return rows


def main() -> None:
    from carton.downloads.api import MAX_ASSETS_PER_DOWNLOAD
    from carton_local.resources import create_all

    scale = float(os.environ.get("CARTON_BENCH_SCALE", "1.0"))
    trace = os.environ.get("CARTON_BENCH_TRACE", "1") != "0"
    count = max(1, int(MAX_ASSETS_PER_DOWNLOAD * scale))
    min_part = 5 * MiB // SCALE_DOWN
    # The parts case's parts are small; objects stay in memory (moto spools larger ones to disk).
    process, endpoint = start_moto(
        {"S3_UPLOAD_PART_MIN_SIZE": str(min_part), "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(64 * MiB)},
        module="benchmarks.moto_server",  # no copy of the whole table per transaction
    )
    try:
        _environment(endpoint)
        resources = create_all("carton-bench")
        _configure(resources.table, resources.buckets, resources.state_machine_arn)
        importlib.import_module("carton.packaging.steps")
        started = time.perf_counter()
        asset_ids = seed(count, random.Random(20261125))
        print(
            f"Workflow steps on moto's server (a local process; slower than AWS, see benchmarks/steps.py): "
            f"{count:,} assets of {ASSET_SIZE:,} bytes seeded in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        rows: list[dict[str, object]] = []
        chosen = os.environ.get("CARTON_BENCH_CASES", ",".join(case.name for case in CASES)).split(",")
        for case in (case for case in CASES if case.name in chosen):
            rows.extend(run_case(case, asset_ids, trace=False))
            if trace:
                rows.extend(run_case(case, asset_ids, trace=True))
        print_table(rows)
        print(
            "peak RSS: VmHWM of a fresh process running the handler (imports included) = the function's "
            "memory use; size Lambda memory and timeouts at >= 3x these (moto is slower than AWS)."
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a server holding gigabytes can be slow to stop
            process.kill()
            process.wait(timeout=10)
