"""Latency of small downloads: `python -m benchmarks latency`.

Starts the embedded stack in this process (as `make run` does, without a state directory),
registers MAX_FILES small assets (1 to 16 KiB each) in the demo account, then for 1, 3 and 25
files creates CARTON_BENCH_LATENCY_RUNS downloads (default 20) one after another over
HTTP and times each from the POST sent to

  complete   the workflow's Complete step has returned (the record says `complete`:
             the next GET answers with the file URL), and
  ended      the execution has ended (after NotifyCompleted; `describe_execution`).

Each download runs alone, so every function invocation in its window is its own: they
are counted per function (the local stack's LocalFunctions, observed from outside), with
the time spent inside them and the AWS calls they made (botocore's call events; the
calls' time is the in-process emulator's here);
the workflow's state transitions come from the emulated Step
Functions' execution history (`get_execution_history`: states entered, Map iterations'
included; Standard workflows bill these). Prints p50 and p95 per size, the counts, where
the time went, and from the counts an estimate for AWS, where every transition and every
warm Lambda invocation has a cost of its own that the emulator does not have.
"""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3

from carton.assets.service import store_bytes
from carton.shared import aws, config
from carton.store import Store
from carton_local.demo import DEMO_ACCOUNT
from carton_local.lambdas import REGION, LocalFunctions
from carton_local.stack import LocalStack
from tests.e2e.conftest import Api

SIZES = (1, 3, 25)
MAX_FILES = max(SIZES)
# AWS figures the estimate uses (ms): a Standard workflow's state transition, and a warm
# Lambda invocation's own overhead (Invoke, the runtime, the handler's wrappers), each
# on top of what the function itself does.
TRANSITION_MS = (25, 50)
INVOKE_MS = (20, 50)
# ... and, for the whole, each AWS call the functions make, one after another as they make
# them: DynamoDB single-digit milliseconds, S3 and the rest tens.
CALL_MS = {"dynamodb": (5, 10)}
OTHER_CALL_MS = (10, 30)
# The order a download calls its functions in (the API's, then the workflow's).
ORDER = (
    "authorizer",
    "create_download",
    "workflow_prepare",
    "workflow_pack",
    "workflow_complete",
    "workflow_notify",
    "workflow_fail",
)


@dataclass
class Invocation:
    function: str
    download_id: str | None
    began: float
    ended: float
    calls: Counter[str]  # AWS API calls the function made, by service.Operation
    in_calls: float  # seconds spent in them (the emulator's work here; the network's on AWS)


@dataclass
class Observed:
    """Every invocation of the local functions, as it ends; and who waits for which download's steps."""

    invocations: list[Invocation] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    completed: dict[str, threading.Event] = field(default_factory=dict)
    notified: dict[str, threading.Event] = field(default_factory=dict)

    def event(self, table: dict[str, threading.Event], download_id: str) -> threading.Event:
        with self.lock:
            return table.setdefault(download_id, threading.Event())

    def record(self, function: str, event: Any, began: float, tally: Tally) -> None:
        download_id = event.get("download_id") if isinstance(event, dict) else None
        ended = time.perf_counter()
        with self.lock:
            self.invocations.append(Invocation(function, download_id, began, ended, tally.calls, tally.seconds))
        if download_id is None:
            return
        if function == "workflow_complete":
            self.event(self.completed, str(download_id)).set()
        if function in ("workflow_notify", "workflow_fail"):
            self.event(self.notified, str(download_id)).set()


@dataclass
class Tally:
    """The AWS calls of one invocation: how many of each, and the seconds spent in them."""

    calls: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    started: list[float] = field(default_factory=list)


_local = threading.local()  # the Tally of the invocation running in this thread


@contextmanager
def observing(observed: Observed) -> Iterator[None]:
    """Meanwhile, every LocalFunctions of this process tells `observed` of each invocation,
    with the AWS calls made in it (an invocation runs in the thread that invokes it). The
    stack's own code runs as it is, inside the wrapper."""
    invoke = LocalFunctions.invoke

    def observed_invoke(self: LocalFunctions, name: str, event: Any) -> Any:
        began, outer = time.perf_counter(), getattr(_local, "tally", None)
        _local.tally = tally = Tally()
        try:
            return invoke(self, name, event)
        finally:
            _local.tally = outer
            observed.record(name, event, began, tally)

    LocalFunctions.invoke = observed_invoke  # type: ignore[method-assign]
    try:
        yield
    finally:
        LocalFunctions.invoke = invoke  # type: ignore[method-assign]


def _call_began(event_name: str, **_: Any) -> None:
    tally: Tally | None = getattr(_local, "tally", None)
    if tally is not None:
        tally.calls[".".join(event_name.split(".")[1:3])] += 1
        tally.started.append(time.perf_counter())


def _call_ended(**_: Any) -> None:
    tally: Tally | None = getattr(_local, "tally", None)
    if tally is not None and tally.started:
        tally.seconds += time.perf_counter() - tally.started.pop()


def count_calls() -> None:
    """Count and time every AWS call of the functions: botocore's before-call and after-call
    events on the default session (the one the running stack's functions use; moto gives the
    mock one of its own), and Carton's clients made anew so that they carry the handlers (a
    client copies its session's events when it is made)."""
    session = boto3.DEFAULT_SESSION
    assert session is not None, "start the stack first"
    session.events.register("before-call", _call_began, unique_id="benchmarks.latency.began")
    session.events.register("after-call", _call_ended, unique_id="benchmarks.latency.ended")
    session.events.register("after-call-error", _call_ended, unique_id="benchmarks.latency.failed")
    aws.reset()


@dataclass
class Run:
    files: int
    to_complete: float
    to_end: float
    invocations: Counter[str]
    seconds: dict[str, float]  # seconds inside each function (their own work, AWS calls included)
    calls: dict[str, Counter[str]]  # AWS calls per function
    in_calls: dict[str, float]  # seconds inside each function's AWS calls
    transitions: int
    history: Counter[str]

    @property
    def inside(self) -> float:
        return sum(self.seconds.values())

    @property
    def every_call(self) -> Counter[str]:
        every = Counter[str]()
        for made in self.calls.values():
            every.update(made)
        return every


def register(store: Store, rng: random.Random) -> list[str]:
    ids = []
    for index in range(MAX_FILES):
        asset_id = f"latency-{index:02d}"
        if store.get_asset(DEMO_ACCOUNT, asset_id) is None:
            data = rng.randbytes(rng.randint(1024, 16 * 1024))
            store_bytes(store, DEMO_ACCOUNT, asset_id, f"file-{index:02d}.bin", "application/octet-stream", data)
        ids.append(asset_id)
    return ids


def one(api: Api, observed: Observed, stepfunctions: Any, machine: str, asset_ids: list[str]) -> Run:
    with observed.lock:
        first = len(observed.invocations)
    began = time.perf_counter()
    reply = api.call("POST", "/api/v1/downloads", {"asset_ids": asset_ids, "name": "latency"})
    if reply.status != 201:
        raise RuntimeError(f"create answered {reply.status}: {reply.body[:300]!r}")
    download_id = str(reply.json()["id"])
    if not observed.event(observed.completed, download_id).wait(120):
        raise RuntimeError(f"download {download_id} did not complete within 120 s")
    to_complete = time.perf_counter() - began
    arn = machine.replace(":stateMachine:", ":execution:") + ":" + download_id
    observed.event(observed.notified, download_id).wait(120)
    while (status := stepfunctions.describe_execution(executionArn=arn)["status"]) == "RUNNING":
        time.sleep(0.005)
    to_end = time.perf_counter() - began
    if status != "SUCCEEDED":
        raise RuntimeError(f"download {download_id}: execution {status}")
    with observed.lock:
        mine = observed.invocations[first:]
    history: Counter[str] = Counter(
        event["type"]
        for page in stepfunctions.get_paginator("get_execution_history").paginate(executionArn=arn)
        for event in page["events"]
    )
    state = api.call("GET", f"/api/v1/downloads/{download_id}").json()
    if state["state"] != "complete":
        raise RuntimeError(f"download {download_id} is {state['state']}")
    seconds: dict[str, float] = defaultdict(float)
    in_calls: dict[str, float] = defaultdict(float)
    calls: dict[str, Counter[str]] = defaultdict(Counter)
    for invocation in mine:
        seconds[invocation.function] += invocation.ended - invocation.began
        in_calls[invocation.function] += invocation.in_calls
        calls[invocation.function].update(invocation.calls)
    return Run(
        files=len(asset_ids),
        to_complete=to_complete,
        to_end=to_end,
        invocations=Counter(i.function for i in mine),
        seconds=dict(seconds),
        calls=dict(calls),
        in_calls=dict(in_calls),
        transitions=sum(count for kind, count in history.items() if kind.endswith("StateEntered")),
        history=history,
    )


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))]


def main() -> None:
    runs = int(os.environ.get("CARTON_BENCH_LATENCY_RUNS", "20"))
    observed = Observed()
    environment = dict(os.environ)
    # No sweeper during the measurement: its invocations are no download's.
    with observing(observed):
        stack = LocalStack(port=0, home=None, sweep_interval=24 * 3600).start()
        try:
            count_calls()
            measure(stack, observed, runs)
        finally:
            stack.stop()
            # The stack pointed this process at its endpoints and resources: not the next benchmark.
            os.environ.clear()
            os.environ.update(environment)
            config.settings.cache_clear()
            aws.reset()


def measure(stack: LocalStack, observed: Observed, runs: int) -> None:
    assert stack.resources is not None
    machine = stack.resources.state_machine_arn
    # A session of its own: its calls are not counted as any function's.
    stepfunctions = boto3.Session().client("stepfunctions", region_name=REGION)
    asset_ids = register(Store(), random.Random(20261125))
    api = Api(stack.url, stack.token, asset_ids)
    one(api, observed, stepfunctions, machine, asset_ids[:1])  # warm: every function loaded once
    results: dict[int, list[Run]] = {}
    for files in SIZES:
        results[files] = [one(api, observed, stepfunctions, machine, asset_ids[:files]) for _ in range(runs)]
    report(results, runs)


def typical(measured: list[Run]) -> Run:
    """The run whose time to end is the median one (its counts and calls stand for the size)."""
    return sorted(measured, key=lambda run: run.to_end)[len(measured) // 2]


def report(results: dict[int, list[Run]], runs: int) -> None:
    print(f"Small downloads on the local stack, one at a time, {runs} per size (files of 1 to 16 KiB):")
    print(
        f"  {'files':>5}  {'to complete p50':>15}  {'p95':>7}  {'to end p50':>10}  {'p95':>7}  "
        f"{'invocations':>11}  {'transitions':>11}  {'AWS calls':>9}  {'in functions':>12}"
    )
    for files, measured in results.items():
        completes = [r.to_complete * 1000 for r in measured]
        ends = [r.to_end * 1000 for r in measured]
        run = typical(measured)
        inside = statistics.median(r.inside / r.to_end for r in measured)
        print(
            f"  {files:>5}  {statistics.median(completes):12.0f} ms  {percentile(completes, 0.95):4.0f} ms  "
            f"{statistics.median(ends):7.0f} ms  {percentile(ends, 0.95):4.0f} ms  {run.invocations.total():>11}  "
            f"{run.transitions:>11}  {run.every_call.total():>9}  {inside:>12.0%}",
            flush=True,
        )
    breakdown(results)
    estimate(results)


def breakdown(results: dict[int, list[Run]]) -> None:
    print(
        "per download: each function's invocations, median time inside it (of which in AWS calls, served by "
        "the in-process emulator here), its AWS calls"
    )
    for files, measured in results.items():
        run = typical(measured)
        print(f"  {files} files:")
        for function in sorted(run.invocations, key=lambda f: (*ORDER, f).index(f)):
            ms = statistics.median(r.seconds.get(function, 0.0) for r in measured) * 1000
            in_calls = statistics.median(r.in_calls.get(function, 0.0) for r in measured) * 1000
            made = ", ".join(f"{call} {n}" for call, n in sorted(run.calls.get(function, Counter()).items()))
            print(
                f"    {function:18} {run.invocations[function]:3}× {ms:6.1f} ms ({in_calls:5.1f} ms)  {made or 'none'}"
            )
        outside = statistics.median((r.to_end - r.inside) * 1000 for r in measured)
        print(f"    {'outside functions':18}      {outside:6.1f} ms            (HTTP, the emulated Step Functions)")
        states = {
            kind.removesuffix("StateEntered"): count
            for kind, count in sorted(run.history.items())
            if kind.endswith("StateEntered")
        }
        print(f"    states entered: {', '.join(f'{kind} {n}' for kind, n in states.items())}")


def estimate(results: dict[int, list[Run]]) -> None:
    """What the counts would cost on AWS (a model with the stated figures, not a measurement)."""
    (t_low, t_high), (i_low, i_high) = TRANSITION_MS, INVOKE_MS
    print("estimate on AWS (warm functions; a cold one adds its init, see `coldstart`):")
    for files, measured in results.items():
        run = typical(measured)
        transitions, invokes = run.transitions, run.invocations.total()
        low = transitions * t_low + invokes * i_low
        high = transitions * t_high + invokes * i_high
        calls = run.every_call
        calls_low = sum(n * CALL_MS.get(call.split(".")[0], OTHER_CALL_MS)[0] for call, n in calls.items())
        calls_high = sum(n * CALL_MS.get(call.split(".")[0], OTHER_CALL_MS)[1] for call, n in calls.items())
        print(
            f"  {files:>2} files: {transitions} transitions × {t_low}-{t_high} ms"
            f" + {invokes} invocations × {i_low}-{i_high} ms = {low / 1000:.2f}-{high / 1000:.2f} s;"
            f" with its {calls.total()} AWS calls one after another (DynamoDB 5-10 ms, S3 and the rest 10-30 ms)"
            f" {(low + calls_low) / 1000:.2f}-{(high + calls_high) / 1000:.2f} s from create to ended"
        )


if __name__ == "__main__":
    main()
