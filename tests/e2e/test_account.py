"""`make account` against the running local stack: the key it prints works for its own
account only; a taken name or bad input exits non-zero and creates nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid

import pytest

from tests.e2e.conftest import ROOT, Api

pytestmark = pytest.mark.skipif(bool(os.environ.get("CARTON_API_URL")), reason="runs against the local stack")


def make_account(api: Api, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CARTON_HOME": str(api.home)}
    env.pop("CARTON_STACK", None)
    return subprocess.run(
        [sys.executable, "-m", "carton_ops.account", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_make_account_prints_a_key_for_a_new_account_that_sees_nothing_of_others(api: Api) -> None:
    name = f"team-{uuid.uuid4().hex[:8]}"
    done = make_account(api, "--account", name, "--email", f"ops@{name}.example")
    assert done.returncode == 0, done.stderr
    found = re.search(r"Token\s+(ctn_\S+)", done.stdout)
    assert found, done.stdout
    token = found.group(1)
    assert api.call("GET", "/api/v1/downloads", token=token).json()["count"] == 0
    assert api.call("GET", "/api/v1/assets", token=token).json()["count"] == 0
    users = api.call("GET", "/api/v1/account/users", token=token).json()
    assert [user["email"] for user in users["results"]] == [f"ops@{name}.example"]
    # The demo account's assets are not this account's.
    refused = api.call("POST", "/api/v1/downloads", {"asset_ids": api.asset_ids[:1]}, token=token)
    assert refused.status == 422, refused.body
    assert api.call("GET", f"/api/v1/assets/{api.asset_ids[0]}", token=token).status == 410
    # The local outbox shows an account only its own mail (the demo account's is there too).
    mailed = api.call("POST", "/api/v1/downloads", {"asset_ids": api.asset_ids[:1], "name": "Demo mail"})
    assert mailed.status == 201
    deadline = time.monotonic() + 60
    while not any("Demo mail" in m["body"] for m in api.call("GET", "/api/v1/_local/outbox").json()["results"]):
        assert time.monotonic() < deadline, "the demo account's mail never arrived"
        time.sleep(0.25)
    assert api.call("GET", "/api/v1/_local/outbox", token=token).json()["count"] == 0

    again = make_account(api, "--account", name, "--email", "other@x.example")
    assert again.returncode == 1 and "taken" in again.stderr and "ctn_" not in again.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), "ACCOUNT and EMAIL required"),
        (("--account", "Bad Name", "--email", "a@b.example"), "account"),
        (("--account", "fine-name", "--email", "nope"), "email"),
    ],
)
def test_make_account_refuses_missing_or_invalid_input(api: Api, args: tuple[str, ...], says: str) -> None:
    done = make_account(api, *args)
    assert done.returncode != 0 and says in done.stderr and "ctn_" not in done.stdout
