"""The local stack under concurrent clients: 16 threads create users, keys, assets (base64
import and presigned upload) and downloads at once, and read them back. The embedded
emulator is not thread-safe by itself (carton_local.hardening): no answer may be a 5xx,
and every download must end complete."""

from __future__ import annotations

import base64
import os
import threading
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field

import pytest

from tests.e2e.conftest import Api, Reply, form_post

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(bool(os.environ.get("CARTON_API_URL")), reason="hardens the local stack's emulator"),
]

THREADS = 16
ROUNDS = 3


@dataclass
class Tally:
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, what: str, reply: Reply, expected: tuple[int, ...]) -> Reply:
        with self.lock:
            self.statuses[(what, reply.status)] += 1
            if reply.status not in expected:
                self.failures.append(f"{what}: {reply.status} {reply.body[:300]!r}")
        return reply


def client(api: Api, number: int, start: threading.Barrier, tally: Tally) -> None:
    start.wait()
    for round_ in range(ROUNDS):
        tag = f"{number}-{round_}-{uuid.uuid4().hex[:6]}"
        tally.record(
            "create user", api.call("POST", "/api/v1/account/users", {"email": f"load-{tag}@demo.local"}), (201,)
        )
        tally.record("create key", api.call("POST", "/api/v1/account/tokens", {"name": f"load {tag}"}), (201,))
        data = f"concurrent import {tag}\n".encode() * 50
        imported = tally.record(
            "import asset",
            api.call(
                "POST",
                "/api/v1/assets",
                {"art": base64.b64encode(data).decode(), "content_type": "text/plain", "filename": f"{tag}.txt"},
            ),
            (201,),
        )
        asset_ids = [api.asset_ids[round_ % len(api.asset_ids)]]
        if imported.status == 201:
            asset_ids.insert(0, imported.json()["key"])
        created = tally.record(
            "create download", api.call("POST", "/api/v1/downloads", {"asset_ids": asset_ids}), (201,)
        )
        if created.status == 201:
            download_id = created.json()["id"]
            with tally.lock:
                tally.downloads.append(download_id)
            tally.record("get download", api.call("GET", f"/api/v1/downloads/{download_id}"), (200,))
        tally.record("list downloads", api.call("GET", "/api/v1/downloads?limit=5"), (200,))
        if round_ == 0:  # through S3 (a presigned POST) and its SQS feed
            data = f"concurrent upload {tag}\n".encode()
            ticket = tally.record(
                "create upload",
                api.call(
                    "POST",
                    "/api/v1/assets/uploads",
                    {"filename": f"{tag}.txt", "content_type": "text/plain", "size": len(data)},
                ),
                (201,),
            )
            if ticket.status == 201:
                with urllib.request.urlopen(form_post(ticket.json(), data, "f.txt"), timeout=60) as response:
                    tally.record("s3 post", Reply(response.status, {}, b""), (200, 204))
                with tally.lock:
                    tally.uploads.append(ticket.json()["id"])


def test_sixteen_clients_at_once_get_no_5xx_and_every_download_completes(api: Api) -> None:
    tally = Tally()
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def run(number: int) -> None:
        try:
            client(api, number, start, tally)
        except BaseException as error:  # a connection reset, a timeout: reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(number,)) for number in range(THREADS)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    elapsed = time.monotonic() - began
    requests = sum(tally.statuses.values())
    server_errors = sum(count for (_, status), count in tally.statuses.items() if status >= 500)
    summary = f"{requests} requests in {elapsed:.1f} s, {server_errors} 5xx: {dict(tally.statuses)}"
    assert not errors, f"{errors[:3]} ({summary})"
    assert server_errors == 0 and not tally.failures, f"{tally.failures[:5]} ({summary})"
    assert len(tally.downloads) == THREADS * ROUNDS and len(tally.uploads) == THREADS, summary

    deadline = time.monotonic() + 90
    pending = set(tally.downloads)
    while pending:
        for download_id in sorted(pending):
            download = api.call("GET", f"/api/v1/downloads/{download_id}").json()
            if download["state"] in ("complete", "failed"):
                assert download["state"] == "complete", download["error"]
                pending.discard(download_id)
        assert time.monotonic() < deadline, f"{len(pending)} downloads unfinished after 90 s"
        time.sleep(0.5)
    for upload_id in tally.uploads:
        while (state := api.call("GET", f"/api/v1/assets/uploads/{upload_id}").json())["state"] == "pending":
            assert time.monotonic() < deadline, f"upload {upload_id} not ingested"
            time.sleep(0.25)
        assert state["state"] == "ingested", state
