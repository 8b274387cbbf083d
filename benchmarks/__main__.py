"""`python -m benchmarks [packaging|coldstart|latency|lists|steps|local|load ...]` runs the named
benchmarks, or all of them.

`python -m benchmarks steps` alone is the quick one: prepare and complete at 10,000 targets
and at 10,000 parts (time and peak memory, for the Lambda functions' sizing)."""

import sys

from benchmarks import coldstart, latency, lists, load, local, packaging, steps

BENCHMARKS = {
    "packaging": packaging.main,
    "coldstart": coldstart.main,
    "latency": latency.main,
    "lists": lists.main,
    "steps": steps.main,
    "local": local.main,
    "load": load.main,
}

if __name__ == "__main__":
    chosen = sys.argv[1:] or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark {', '.join(unknown)}; one of: {', '.join(BENCHMARKS)}")
    for name in chosen:
        print(f"== {name}", flush=True)
        BENCHMARKS[name]()
