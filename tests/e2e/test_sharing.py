"""Share links over HTTP on the local stack: the completion e-mail carries one that opens
the archive with no key; a link made over the API works until it is revoked (then 410)."""

from __future__ import annotations

import io
import os
import re
import time
import urllib.request
import uuid
import zipfile

import pytest

from tests.e2e.conftest import Api, wait_until_finished

pytestmark = pytest.mark.skipif(bool(os.environ.get("CARTON_API_URL")), reason="the outbox is the local stack's")


def fetched(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        data: bytes = response.read()
        return data


def test_the_e_mail_and_the_api_hand_out_links_anyone_can_open(api: Api) -> None:
    name = f"Shared {uuid.uuid4().hex[:8]}"
    created = api.call("POST", "/api/v1/downloads", {"asset_ids": api.asset_ids[:2], "name": name})
    assert created.status == 201, created.body
    download = wait_until_finished(api, created.json()["id"])
    assert download["state"] == "complete"
    deadline = time.monotonic() + 30
    while not (mails := [m for m in api.call("GET", "/api/v1/_local/outbox").json()["results"] if name in m["body"]]):
        assert time.monotonic() < deadline, "no completion e-mail"
        time.sleep(0.3)
    link = re.search(r"http://127\.0\.0\.1:\d+/api/v1/shared/shr_\S+", mails[0]["body"])
    assert link is not None, mails[0]["body"]
    opened = api.call("GET", link.group(0).removeprefix(api.base), token=None)
    assert opened.status == 302
    with zipfile.ZipFile(io.BytesIO(fetched(opened.headers["location"]))) as archive:
        assert archive.testzip() is None and "manifest.json" in archive.namelist()

    made = api.call("POST", f"/api/v1/downloads/{download['id']}/links", {"expires_in_days": 1})
    assert made.status == 201, made.body
    shared = made.json()["shared_url"].removeprefix(api.base)
    assert api.call("GET", shared, token=None).status == 302
    assert api.call("DELETE", f"/api/v1/downloads/{download['id']}/links/{made.json()['id']}").status == 204
    gone = api.call("GET", shared, token=None)
    assert gone.status == 410 and gone.json()["message"] == "This link was revoked"
    listed = api.call("GET", f"/api/v1/downloads/{download['id']}/links").json()["results"]
    assert sorted((entry["uses"], entry["revoked"]) for entry in listed) == [(1, False), (1, True)]
