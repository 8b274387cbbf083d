"""The local stack's memory under writes: `python -m benchmarks local`.

Starts the embedded stack in this process (as `make run` does, without a state directory)
and makes 5,000 transactional writes through Carton's own store, alternating its two most
common transactions: a new download with its counters, and a new user with its e-mail
marker (each one TransactWriteItems of two items). Prints the process's RSS at start,
after 1,000 and after 5,000 writes, the writes per second of each stretch, and how many of
moto's DynamoDB `Table` and `Item` objects are alive (moto tracks every instance it makes).

Then the same in a child process on moto as it is (`--unhardened`: no lock, moto's
whole-table copies, strong instance tracking), for comparison; it stops at 1,000 writes or
when its RSS passes CARTON_BENCH_RSS_CAP_MB (default 2048), whichever comes first: its
growth is quadratic, 5,000 writes would need tens of GB. CARTON_BENCH_BASELINE=0 skips it;
CARTON_BENCH_SCALE scales the write counts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

from carton.accounts.models import Role, User
from carton.downloads.models import Download, DownloadState
from carton.store import Store
from carton_local.hardening import live_instances
from carton_local.stack import LocalStack


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def write(store: Store, number: int) -> None:
    """One transactional write: a download (with its counters) or a user (with its e-mail marker)."""
    if number % 2:
        store.put_user(
            User(account_id="bench", user_id=f"u{number}", email=f"u{number}@bench.example", role=Role.MEMBER)
        )
        return
    download_id = uuid.uuid4().hex
    store.create_download(
        Download(
            account_id="bench",
            download_id=download_id,
            created_by="admin",
            created_by_email="admin@bench.example",
            name=f"bench {number}",
            zip_filename=f"{download_id}.zip",
            layout="flat",
            download_type="archive",
            asset_ids=["demo-readme"],
            state=DownloadState.PENDING,
            created_at=datetime.now(UTC),
        )
    )


def line(label: str, writes: int, seconds: float | None) -> str:
    rate = f"{writes / seconds:8.0f} writes/s" if seconds else " " * 17
    return (
        f"  {label:22} RSS {rss_mib():7.0f} MiB  {rate}  live moto Tables {live_instances('dynamodb', 'Table'):6,}"
        f"  Items {live_instances('dynamodb', 'Item'):9,}"
    )


def run(hardened: bool, checkpoints: list[int], cap_mib: float) -> None:
    stack = LocalStack(port=0, home=None, harden_emulator=hardened).start()
    try:
        store = Store()
        print(line("start", 0, None), flush=True)
        done, began = 0, time.perf_counter()
        for checkpoint in checkpoints:
            stretch_start, stretch_writes = time.perf_counter(), 0
            while done < checkpoint:
                write(store, done)
                done += 1
                stretch_writes += 1
                if done % 50 == 0 and rss_mib() > cap_mib:
                    break
            print(line(f"after {done:,} writes", stretch_writes, time.perf_counter() - stretch_start), flush=True)
            if rss_mib() > cap_mib:
                print(f"  stopped: RSS passed {cap_mib:.0f} MiB after {done:,} writes", flush=True)
                return
        print(f"  {done:,} writes in {time.perf_counter() - began:.1f} s", flush=True)
    finally:
        stack.stop()


def main() -> None:
    scale = float(os.environ.get("CARTON_BENCH_SCALE", "1.0"))
    cap = float(os.environ.get("CARTON_BENCH_RSS_CAP_MB", "2048"))
    checkpoints = [max(1, int(1_000 * scale)), max(2, int(5_000 * scale))]
    if "--unhardened" in sys.argv:
        run(hardened=False, checkpoints=checkpoints[:1], cap_mib=cap)
        return
    print("embedded stack, hardened (carton_local.hardening):", flush=True)
    run(hardened=True, checkpoints=checkpoints, cap_mib=float("inf"))
    if os.environ.get("CARTON_BENCH_BASELINE", "1") != "0":
        print("moto as it is (for comparison):", flush=True)
        subprocess.run([sys.executable, "-m", "benchmarks.local", "--unhardened"], check=False)


if __name__ == "__main__":
    main()
