"""`python -m benchmarks` runs every benchmark in turn."""

from benchmarks import packaging

if __name__ == "__main__":
    packaging.main()
