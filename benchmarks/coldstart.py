"""Cold start: the CPU each function's handler module costs to import in a fresh process,
against `import boto3` alone: `python -m benchmarks coldstart`.

For every `functions/<name>/handler.py`, `python -c "import functions.<name>.handler"` runs
in a new interpreter (the repository's own core first on the path, as Lambda has its
layer) CARTON_BENCH_COLDSTART_RUNS times (default 10), interleaved with `import boto3`
and an empty interpreter; each run's CPU is the child's own user + system seconds, as
the kernel accounts them when it ends (os.wait4: exact per child, so two can run at once
on two cores). The table gives the median per function, its ratio to `import boto3`,
sorted, with every ratio over FLAG marked: on Lambda the import runs in the init phase,
on every cold start, before the first request is answered.

Two environments. As the unit tests import handlers (tests/unit/test_cold_imports.py:
X-Ray tracing off, a region), median of CARTON_BENCH_COLDSTART_RUNS; and as they load on
Lambda (LAMBDA_TASK_ROOT set, the service named, tracing on as infra/functions.py deploys
them), median of half as many runs. They differ where a library asks where it runs: the
X-Ray SDK builds a sampler (with an AWS client of its own) at import outside Lambda, and
Powertools patches the AWS SDK for X-Ray inside. Both import whatever this virtualenv
holds that a patcher looks for, which the deps layer may not.

For the three slowest that are deployed, `python -X importtime` (as on Lambda, median of IMPORTTIME_RUNS)
names the five modules with the largest cumulative import time, leaving out the handler
itself and the packages it lives in and what `import boto3` loads, and showing a chain of packages that only import
the next once, where its time is spent; then the five with the largest import time of
their own: the candidates to defer.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from carton.web.routes import ROUTES

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = sorted(path.parent.name for path in (ROOT / "functions").glob("*/handler.py"))
# Served by the local stack only, never deployed: its cold start happens on no Lambda.
LOCAL_ONLY = {route.function for route in ROUTES if route.local_only}
FLAG = 1.5
SLOWEST = 3
TOP = 5
IMPORTTIME_RUNS = 3
CHAIN = 0.8  # a module whose heaviest import is this share of its cumulative time stands aside for it
BOTO3 = "boto3"
EMPTY = "(empty interpreter)"
# As tests/unit/test_cold_imports.py: tracing off (no X-Ray daemon), a region for the SDK.
TEST_ENVIRONMENT = {"POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
# As on Lambda (infra/functions.py: tracing ACTIVE, the service named): Powertools' Tracer
# sees LAMBDA_TASK_ROOT and patches the AWS SDK for X-Ray at import.
LAMBDA_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "LAMBDA_TASK_ROOT": str(ROOT),
    "POWERTOOLS_SERVICE_NAME": "carton",
}
_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


def statement(name: str) -> str:
    if name == EMPTY:
        return "pass"
    if name == BOTO3:
        return "import boto3"
    return f"import functions.{name}.handler"


def environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment less what would change an import (tracing, Powertools,
    a Lambda marker, a debugger), with the repository's core first on the path."""
    kept = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("POWERTOOLS_", "LAMBDA_", "AWS_LAMBDA_", "_X_AMZN", "PYTHON"))
    }
    path = os.pathsep.join([str(ROOT / "layers" / "core" / "python"), str(ROOT)])
    return {**kept, "PYTHONPATH": path, **extra}


def cpu_seconds(name: str, env: dict[str, str]) -> float:
    """One fresh interpreter running the import: its user + system CPU seconds."""
    process = subprocess.Popen(
        [sys.executable, "-c", statement(name)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.stderr is not None
    error = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if process.returncode != 0:
        raise RuntimeError(f"{statement(name)} failed:\n{error[-2000:]}")
    return usage.ru_utime + usage.ru_stime


def medians(names: list[str], runs: int, env: dict[str, str], parallel: int) -> dict[str, float]:
    """Median CPU seconds per name over `runs` rounds; each round runs every name once, in
    order, `parallel` at a time (so drift on the machine touches every name alike)."""
    samples: dict[str, list[float]] = defaultdict(list)
    with ThreadPoolExecutor(parallel) as pool:
        for _ in range(runs):
            for name, seconds in zip(names, pool.map(lambda n: cpu_seconds(n, env), names), strict=True):
                samples[name].append(seconds)
    return {name: statistics.median(values) for name, values in samples.items()}


@dataclass
class Imported:
    module: str
    own_us: int  # its own import time, medians over IMPORTTIME_RUNS
    cumulative_us: int  # with everything it imported first
    parent: str | None  # the module whose import imported it


def import_times(name: str, env: dict[str, str]) -> dict[str, Imported]:
    """`python -X importtime` of the import, medians of IMPORTTIME_RUNS runs; the tree from the first."""
    samples: dict[str, list[tuple[int, int]]] = defaultdict(list)
    parents: dict[str, str | None] = {}
    for _ in range(IMPORTTIME_RUNS):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", statement(name)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        # Children come before their parent, one level (two spaces) deeper.
        waiting: dict[int, list[str]] = defaultdict(list)
        for line in done.stderr.splitlines():
            if not (match := _IMPORTTIME.match(line)):
                continue
            module, depth = match.group(4), (len(match.group(3)) - 1) // 2
            samples[module].append((int(match.group(1)), int(match.group(2))))
            for child in waiting.pop(depth + 1, []):
                parents[child] = parents.get(child) or module
            waiting[depth].append(module)
            parents[module] = parents.get(module)
    return {
        module: Imported(
            module,
            int(statistics.median(own for own, _ in values)),
            int(statistics.median(cumulative for _, cumulative in values)),
            parents.get(module),
        )
        for module, values in samples.items()
    }


def top_imports(name: str, env: dict[str, str], baseline: set[str]) -> tuple[list[Imported], list[Imported]]:
    """The TOP modules under the handler (itself and its packages left out) by cumulative
    import time, and by their own. In the first list a module that is little more than one
    import of another (a package whose __init__ imports its heavy submodule) gives way to
    that one, so a chain shows once, where the time is spent. What `baseline` names (what
    `import boto3` loads: every function pays it) is left out too."""
    own = {"functions", f"functions.{name}", f"functions.{name}.handler"} | baseline
    times = import_times(name, env)
    heaviest_child: dict[str, int] = defaultdict(int)
    for item in times.values():
        if item.parent is not None:
            heaviest_child[item.parent] = max(heaviest_child[item.parent], item.cumulative_us)
    candidates = [item for item in times.values() if item.module not in own]
    by_cumulative = sorted(
        (item for item in candidates if heaviest_child[item.module] < CHAIN * item.cumulative_us),
        key=lambda item: -item.cumulative_us,
    )
    by_own = sorted(candidates, key=lambda item: -item.own_us)
    return by_cumulative[:TOP], by_own[:TOP]


def main() -> None:
    runs = int(os.environ.get("CARTON_BENCH_COLDSTART_RUNS", "10"))
    lambda_runs = max(1, runs // 2)
    parallel = int(os.environ.get("CARTON_BENCH_PARALLEL", "2"))
    env, lambda_env = environment(TEST_ENVIRONMENT), environment(LAMBDA_ENVIRONMENT)
    names = [EMPTY, BOTO3, *FUNCTIONS]
    began = time.perf_counter()
    # Once each first: bytecode compiled and cached, files in the page cache.
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(lambda name: cpu_seconds(name, env), names))
    cpu = medians(names, runs, env, parallel)
    on_lambda = medians([BOTO3, *FUNCTIONS], lambda_runs, lambda_env, parallel)
    base, lambda_base = cpu[BOTO3], on_lambda[BOTO3]
    print(
        f"CPU (user + system) of a fresh `python -c 'import …'`, {parallel} at a time; "
        f"empty interpreter {cpu[EMPTY]:.3f} s, `import boto3` {base:.3f} s"
    )
    print(
        f"  as the unit tests import (tracing off), median of {runs}; and as on Lambda (LAMBDA_TASK_ROOT set, "
        f"tracing on), median of {lambda_runs}, `import boto3` {lambda_base:.3f} s there"
    )
    ranked = sorted(FUNCTIONS, key=lambda name: -cpu[name])
    width = max(len(name) for name in ranked)
    print(f"  {'function':{width}}  median CPU s  ratio to boto3        on Lambda: CPU s  ratio")
    for name in ranked:
        ratio = cpu[name] / base
        flag = f"> {FLAG}" if ratio > FLAG else ""
        print(
            f"  {name:{width}}  {cpu[name]:12.3f}  {ratio:14.2f}  {flag:5}  "
            f"{on_lambda[name]:16.3f}  {on_lambda[name] / lambda_base:5.2f}"
            + ("  (local stack only, never deployed)" if name in LOCAL_ONLY else ""),
            flush=True,
        )
    ratios = [cpu[name] / base for name in FUNCTIONS]
    lambda_ratios = [on_lambda[name] / lambda_base for name in FUNCTIONS]
    print(
        f"  {len(FUNCTIONS)} functions: median ratio {statistics.median(ratios):.2f}, worst {max(ratios):.2f}, "
        f"{sum(ratio > FLAG for ratio in ratios)} over {FLAG}; "
        f"on Lambda median {statistics.median(lambda_ratios):.2f}, worst {max(lambda_ratios):.2f}"
    )
    boto3_loads = set(import_times(BOTO3, lambda_env))
    for name in [name for name in ranked if name not in LOCAL_ONLY][:SLOWEST]:
        by_cumulative, by_own = top_imports(name, lambda_env, boto3_loads)
        print(
            f"{name}: top {TOP} imports by cumulative time (-X importtime as on Lambda, median of {IMPORTTIME_RUNS}; "
            "what `import boto3` loads left out)"
        )
        for item in by_cumulative:
            print(
                f"  {item.cumulative_us / 1000:8.1f} ms cumulative  {item.own_us / 1000:7.1f} ms self  {item.module}"
                f"  (imported by {item.parent})"
            )
        print(f"  and by their own: {', '.join(f'{item.module} {item.own_us / 1000:.1f} ms' for item in by_own)}")
    print(f"({time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
