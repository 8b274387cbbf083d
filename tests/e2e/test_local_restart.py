"""The local stack keeps its state across a restart (carton_local.state): users, keys,
assets with their bytes, downloads and their archives; the demo account and its key are
found again, not duplicated; a download the stop interrupted ends failed, never stuck;
`python -m carton_local --reset` (make reset) empties the state."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, Api, free_port, local_stack, wait_until_finished

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(bool(os.environ.get("CARTON_API_URL")), reason="starts and stops local stacks"),
]


def archive_bytes(api: Api, download_id: str) -> bytes:
    redirect = api.call("GET", f"/api/v1/downloads/{download_id}/file")
    assert redirect.status == 302, redirect.body
    with urllib.request.urlopen(redirect.headers["location"], timeout=30) as response:
        return bytes(response.read())


def test_a_restart_keeps_users_keys_assets_downloads_and_archives(tmp_path: Path) -> None:
    home, log = tmp_path / "home", tmp_path / "stack.log"
    token = f"ctn_restart-{secrets.token_urlsafe(16)}"
    data = b"kept across a restart\n" * 100

    with local_stack(home, token, log) as (api, banner):
        assert f"State    {(home / 'state').resolve()}" in banner and "a fresh start" in banner
        user = api.call("POST", "/api/v1/account/users", {"email": "kept@demo.local"})
        assert user.status == 201, user.body
        key = api.call("POST", "/api/v1/account/tokens", {"name": "kept key"})
        assert key.status == 201, key.body
        second_key = key.json()["token"]
        imported = api.call(
            "POST",
            "/api/v1/assets",
            {"art": base64.b64encode(data).decode(), "content_type": "text/plain", "filename": "kept.txt"},
        )
        assert imported.status == 201, imported.body
        asset = imported.json()
        created = api.call("POST", "/api/v1/downloads", {"asset_ids": [asset["key"], "demo-readme"], "name": "Kept"})
        assert created.status == 201, created.body
        download = wait_until_finished(api, created.json()["id"])
        assert download["state"] == "complete", download["error"]
        archive = archive_bytes(api, download["id"])
        users = api.call("GET", "/api/v1/account/users").json()["count"]
        assets = api.call("GET", "/api/v1/assets").json()["count"]
        # Stopped right after creation: their workflows do not survive the stop.
        interrupted = [
            api.call("POST", "/api/v1/downloads", {"asset_ids": api.asset_ids}).json()["id"] for _ in range(3)
        ]
    assert (home / "state" / "snapshot.pickle").is_file()

    for _ in range(2):  # twice: a restart of a restarted stack duplicates nothing either
        with local_stack(home, token, log) as (api, banner):
            assert "restored" in banner, banner
            # Nothing unfinished: each interrupted download completed before the stop or failed, saying why.
            for download_id in interrupted:
                found = api.call("GET", f"/api/v1/downloads/{download_id}").json()
                assert found["state"] in ("complete", "failed"), found
                if found["state"] == "failed":
                    assert found["error"]["code"] == "interrupted", found
            assert api.call("GET", "/api/v1/account/users").json()["count"] == users
            assert api.call("GET", "/api/v1/assets").json()["count"] == assets
            assert api.call("GET", "/api/v1/account", token=second_key).status == 200
            assert api.call("GET", f"/api/v1/assets/{asset['key']}").json()["sha256"] == asset["sha256"]
            kept = api.call("GET", f"/api/v1/downloads/{download['id']}").json()
            assert kept["state"] == "complete" and kept["size"] == len(archive)
            assert archive_bytes(api, download["id"]) == archive
            # The asset's S3 object survived too: a new download packs it again.
            again = api.call("POST", "/api/v1/downloads", {"asset_ids": [asset["key"]]})
            assert again.status == 201, again.body
            assert wait_until_finished(api, again.json()["id"])["state"] == "complete"

    reset = subprocess.run(
        [sys.executable, "-m", "carton_local", "--reset"],
        cwd=ROOT,
        env={**os.environ, "CARTON_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert reset.returncode == 0, reset.stderr
    with local_stack(home, token, log) as (api, banner):
        assert "a fresh start" in banner
        assert api.call("GET", f"/api/v1/assets/{asset['key']}").status in (404, 410)
        assert api.call("GET", "/api/v1/account", token=second_key).status == 401
        assert api.call("GET", "/api/v1/account").status == 200  # the bootstrap key, on a new demo account


def test_a_second_stack_on_the_same_home_and_a_reset_while_running_are_refused(tmp_path: Path) -> None:
    home, log = tmp_path / "home", tmp_path / "stack.log"
    env = {**os.environ, "CARTON_HOME": str(home)}
    with local_stack(home, f"ctn_lock-{secrets.token_urlsafe(16)}", log):
        for args in (["--port", str(free_port())], ["--reset"]):
            refused = subprocess.run(
                [sys.executable, "-m", "carton_local", *args],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=90,
                check=False,
            )
            assert refused.returncode != 0 and "another local stack is using" in refused.stderr, refused
