"""`python -m benchmarks [packaging|lists ...]` runs the named benchmarks, or all of them."""

import sys

from benchmarks import lists, packaging

BENCHMARKS = {"packaging": packaging.main, "lists": lists.main}

if __name__ == "__main__":
    chosen = sys.argv[1:] or list(BENCHMARKS)
    for name in chosen:
        print(f"== {name}", flush=True)
        BENCHMARKS[name]()
