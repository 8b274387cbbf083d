"""Every download ends, under load: `python -m benchmarks load`.

Starts the embedded stack in this process (as `make run` does, without a state directory),
then CARTON_LOAD_THREADS (default 8) clients create CARTON_LOAD_DOWNLOADS (default 300)
downloads of the demo assets over HTTP, as fast as the stack answers, and poll each until it
ends. Prints how they ended (state and error code), how long the last one took, the
answers that were not 201, what the sweeper found afterwards (a pass with its clock moved
past every threshold), and what is left in the archives bucket that should not be: plan
objects, open multipart uploads, archives of downloads that are not complete.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from benchmarks.local import rss_mib
from carton.downloads.sweeper import STALLED_AFTER, sweep
from carton.shared import aws
from carton.shared.fields import utcnow
from carton.storage.schema import PLANS_PREFIX
from carton.store import Store
from carton_local.stack import LocalStack
from tests.e2e.conftest import Api

FINAL = ("complete", "failed", "expired")


def client(api: Api, count: int, ended: list[dict[str, Any]], answers: Counter[int], lock: threading.Lock) -> None:
    mine: list[str] = []
    for _ in range(count):
        reply = api.call("POST", "/api/v1/downloads", {"asset_ids": api.asset_ids})
        with lock:
            answers[reply.status] += 1
        if reply.status == 201:
            mine.append(str(reply.json()["id"]))
    while mine:
        for download_id in list(mine):
            reply = api.call("GET", f"/api/v1/downloads/{download_id}")
            if reply.status != 200:
                with lock:
                    answers[reply.status] += 1
                continue
            download = reply.json()
            if download["state"] in FINAL:
                with lock:
                    ended.append(download)
                mine.remove(download_id)
        time.sleep(0.5)


def leftovers(stack: LocalStack, store: Store, ended: list[dict[str, Any]]) -> dict[str, int]:
    assert stack.resources is not None
    s3, bucket = aws.s3(), stack.resources.buckets["archives"]
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    ]
    complete = {d["id"] for d in ended if d["state"] == "complete"}
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return {
        "plan objects": sum(key.startswith(PLANS_PREFIX) for key in keys),
        "open uploads": len(uploads),
        "archives of downloads not complete": sum(
            1 for key in keys if not key.startswith(PLANS_PREFIX) and key.split("/")[2] not in complete
        ),
    }


def main() -> None:
    threads = int(os.environ.get("CARTON_LOAD_THREADS", "8"))
    total = int(os.environ.get("CARTON_LOAD_DOWNLOADS", "300"))
    stack = LocalStack(port=0, home=None).start()
    try:
        api = Api(stack.url, stack.token, stack.demo_asset_ids)
        ended: list[dict[str, Any]] = []
        answers: Counter[int] = Counter()
        lock = threading.Lock()
        began = time.perf_counter()
        workers = [
            threading.Thread(target=client, args=(api, total // threads + (i < total % threads), ended, answers, lock))
            for i in range(threads)
        ]
        for worker in workers:
            worker.start()
        while any(worker.is_alive() for worker in workers):
            workers[0].join(timeout=15)
            with lock:
                print(f"  {time.perf_counter() - began:4.0f} s: {sum(answers.values())} answers, {len(ended)} ended")
        seconds = time.perf_counter() - began
        outcomes = Counter(f"{d['state']}" + (f" ({d['error']['code']})" if d.get("error") else "") for d in ended)
        print(f"  {len(ended)} of {total} downloads ended in {seconds:.0f} s from {threads} threads")
        print(f"  answers: {dict(sorted(answers.items()))}")
        print(f"  how they ended: {dict(outcomes)}")
        store = Store()
        print(f"  sweeper, clock past every threshold: {sweep(store, utcnow() + STALLED_AFTER + timedelta(minutes=1))}")
        print(f"  left behind: {leftovers(stack, store, ended)}")
        print(f"  RSS {rss_mib():.0f} MiB")
    finally:
        stack.stop()
