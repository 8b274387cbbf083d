"""List scaling: DynamoDB items read per list page, as the table grows 10x.

Fills the table (moto, in-process) with 10,000 and then 100,000 downloads spread over
users, states, types, dates and assets, then reads the first page and a page five
links deep for every filter and ordering. Items read must stay flat as the table grows;
a filter answered by walking (its count, on the first page only) is marked.
CARTON_BENCH_SCALE scales the table sizes.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from moto import mock_aws

from carton.accounts.models import Principal, Role
from carton.downloads.items import counters_of, download_item
from carton.downloads.listing import list_downloads
from carton.downloads.models import Download, DownloadState, Target
from carton.shared import aws, config
from carton.storage.counters import counters_key
from carton.storage.keys import index_partition, list_sort_key
from carton.storage.schema import BY_ASSET_INDEX, LIST_SORT_KEY
from carton.store import Store
from carton_local.resources import create_all

USERS = [f"user{i}" for i in range(20)]
TYPES = ["archive", "preview", "print"]
STATES = [DownloadState.COMPLETE] * 6 + [DownloadState.FAILED, DownloadState.EXPIRED, DownloadState.PENDING]
ASSETS = [f"asset{i:04d}" for i in range(2000)]
QUERIES: list[tuple[str, dict[str, str], bool]] = [
    ("all (admin)", {}, True),
    ("member: own", {}, False),
    ("complete=true", {"complete": "true"}, True),
    ("complete=false", {"complete": "false"}, True),
    ("state=failed", {"state": "failed"}, True),
    ("download_type=print", {"download_type": "print"}, True),
    ("user=user3", {"user": "user3"}, True),
    ("uid=asset0007", {"uid": "asset0007"}, True),
    ("from/to (one day)", {"from": "2026-06-01", "to": "2026-06-01"}, True),
    ("ordering=created_at", {"ordering": "created_at"}, True),
    ("ordering=complete", {"ordering": "complete"}, True),
    ("ordering=-complete", {"ordering": "-complete"}, True),
]
PAGE = 25
DEPTH = 5


def fill(store: Store, count: int, start: int, rng: random.Random) -> None:
    totals: Counter[str] = Counter()
    first = datetime(2026, 1, 1, tzinfo=UTC)
    span = 365 * 24 * 3600
    with store.table.batch_writer() as batch:
        for i in range(start, start + count):
            asset = rng.choice(ASSETS)
            download = Download(
                account_id="bench",
                download_id=f"d{i:07d}",
                created_by=rng.choice(USERS),
                created_by_email="bench@example.com",
                name=f"download {i}",
                zip_filename=f"d{i}.zip",
                layout="flat",
                download_type=rng.choice(TYPES),
                asset_ids=[asset],
                state=rng.choice(STATES),
                created_at=first + timedelta(seconds=rng.randrange(span)),
            )
            batch.put_item(Item=download_item(download))
            target = Target(download_id=download.download_id, asset_id=asset, position=0)
            batch.put_item(
                Item={
                    **target.model_dump(mode="json"),
                    "pk": f"ACCOUNT#bench#DOWNLOAD#{download.download_id}",
                    "sk": f"TARGET#{asset}",
                    LIST_SORT_KEY: list_sort_key(download.created_at, download.download_id),
                    BY_ASSET_INDEX.keys.partition_key: index_partition(BY_ASSET_INDEX, "bench", asset=asset),
                }
            )
            totals.update(counters_of(download, download.state))
    for name, value in totals.items():
        store.table.update_item(
            Key=counters_key("bench", 0),  # any one shard: counts are summed over them
            UpdateExpression="ADD #c :v",
            ExpressionAttributeNames={"#c": name},
            ExpressionAttributeValues={":v": value},
        )


def measure(store: Store, query: dict[str, str], admin: bool) -> tuple[int, int, int]:
    principal = Principal(
        account_id="bench",
        user_id="admin" if admin else "user5",
        role=Role.ADMIN if admin else Role.MEMBER,
        token_id="bench",
    )
    parameters: dict[str, Any] = {**query, "limit": str(PAGE)}
    key = config.settings().cursor_key
    envelope, _, page = list_downloads(principal, parameters, store, key, "https://bench/api/v1/downloads")
    first = page.items_read
    deep = 0
    for _ in range(DEPTH):
        if not envelope["next"]:
            break
        parameters = {k: v[-1] for k, v in parse_qs(urlsplit(envelope["next"]).query).items()}
        envelope, _, page = list_downloads(principal, parameters, store, key, "https://bench/api/v1/downloads")
        deep = page.items_read
    return first, deep, envelope["count"] or 0


def main() -> None:
    scale = float(os.environ.get("CARTON_BENCH_SCALE", "1.0"))
    sizes = [int(10_000 * scale), int(100_000 * scale)]
    rng = random.Random(7)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        resources = create_all("carton-bench")
        os.environ[config.ENV_TABLE] = resources.table
        config.settings.cache_clear()
        aws.reset()
        store = Store()
        results: dict[str, list[tuple[int, int, int]]] = {name: [] for name, _, _ in QUERIES}
        filled = 0
        for size in sizes:
            started = time.perf_counter()
            fill(store, size - filled, filled, rng)
            filled = size
            print(f"filled {size:,} downloads in {time.perf_counter() - started:.0f} s", flush=True)
            for name, query, admin in QUERIES:
                results[name].append(measure(store, query, admin))
    print(f"\nDynamoDB items read per list page ({PAGE} per page): first page / page {DEPTH + 1}")
    header = f"{'query':24}" + "".join(f"{f'{size:,} rows':>22}" for size in sizes) + "   growth (worst page)"
    print(header)
    for name, rows in results.items():
        cells = "".join(f"{f'{first} / {deep}  (n={count})':>22}" for first, deep, count in rows)
        growth = max(rows[-1][:2]) / max(max(rows[0][:2]), 1)
        print(f"{name:24}{cells}   x{growth:.2f}")
