"""The `carton` command against a running API, as a user runs it: a folder uploaded, a
download of a tag followed to the end, its archive fetched (an interrupted fetch resumed),
verified and extracted; a damaged archive caught; bad credentials refused in one line."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import MULTIPART_THRESHOLD, Api

ANSI = re.compile(r"\x1b\[")
BATCH = "2026-11-25T10:00:00.123Z"


def carton(
    api: Api, *args: str, cwd: Path, token: str | None = None, **options: Any
) -> subprocess.CompletedProcess[str]:
    """The console script's code path (`python -m carton.client` runs the same main())."""
    env = {
        **os.environ,
        "CARTON_API_URL": api.base,
        "CARTON_TOKEN": token or api.token,
        "CARTON_CONFIG": str(cwd / "no-config.toml"),
    }
    return subprocess.run(
        [sys.executable, "-m", "carton.client", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=options.pop("timeout", 120),
        **options,
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    photos = root / "photos"
    (photos / "day 2").mkdir(parents=True)
    marker = uuid.uuid4().hex  # bytes no earlier run uploaded
    (photos / "notes.txt").write_text(f"first day {marker}\n")
    (photos / "day 2" / "notes.md").write_text(f"# second day {marker}\n")
    (photos / "day 2" / "again.txt").write_text(f"first day {marker}\n")  # the same bytes: a duplicate
    # Large enough that a slowed fetch can be stopped half-way.
    (photos / "day 2" / "log.txt").write_text((marker * 40 + "\n") * 1500)
    return root


@pytest.fixture(scope="module")
def tag() -> str:
    return f"cli-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def download(api: Api, folder: Path, tag: str) -> dict[str, Any]:
    added = carton(api, "assets", "add", "photos", "--tag", tag, "--batch", BATCH, cwd=folder)
    assert added.returncode == 0, added.stderr
    assert "4 of 4 files are assets (1 already were)" in added.stderr
    assert re.search(r"again\.txt\s+duplicate", added.stderr) or re.search(r"notes\.txt\s+duplicate", added.stderr)
    created = carton(api, "-o", "json", "downloads", "create", "--tag", tag, "--name", "Trip", "--wait", cwd=folder)
    assert created.returncode == 0, created.stderr
    result: dict[str, Any] = json.loads(created.stdout)
    return result


def test_a_folder_becomes_a_download_of_its_tag(api: Api, folder: Path, tag: str, download: dict[str, Any]) -> None:
    listed = carton(api, "-o", "json", "assets", "ls", "--tag", tag, cwd=folder)
    assert listed.returncode == 0, listed.stderr
    assets = json.loads(listed.stdout)
    # The same bytes twice: whichever upload was ingested first named the asset.
    names = sorted(asset["filename"] for asset in assets)
    assert names in (["again.txt", "log.txt", "notes.md"], ["log.txt", "notes.md", "notes.txt"])
    assert {asset["batch"] for asset in assets} == {"2026-11-25T10:00:00.123000Z"}
    assert download["state"] == "complete"
    assert sorted(download["assets"]) == sorted(asset["key"] for asset in assets)


def test_fetch_verifies_and_extracts_what_was_uploaded(api: Api, folder: Path, download: dict[str, Any]) -> None:
    fetched = carton(api, "downloads", "fetch", download["id"], "--extract", "out", cwd=folder)
    assert fetched.returncode == 0, fetched.stderr
    assert "verified 4 files (CRC-32), 3 against the manifest (SHA-256)" in fetched.stderr
    assert not ANSI.search(fetched.stderr), "no progress bars when stderr is not a terminal"
    assert (folder / "Trip.zip").is_file()
    first_day = (folder / "photos" / "notes.txt").read_bytes()
    assert first_day in (
        (folder / "out" / name).read_bytes() for name in ("notes.txt", "again.txt") if (folder / "out" / name).exists()
    )
    for name, original in (("notes.md", "day 2/notes.md"), ("log.txt", "day 2/log.txt")):
        assert (folder / "out" / name).read_bytes() == (folder / "photos" / original).read_bytes()


def test_an_interrupted_fetch_resumes_to_the_same_bytes(api: Api, folder: Path, download: dict[str, Any]) -> None:
    whole = carton(api, "downloads", "fetch", download["id"], "-O", "whole.zip", "--no-verify", cwd=folder)
    assert whole.returncode == 0, whole.stderr
    size = (folder / "whole.zip").stat().st_size
    env = {**os.environ, "CARTON_API_URL": api.base, "CARTON_TOKEN": api.token}
    fetch = ["downloads", "fetch", download["id"], "-O", "part.zip", "--limit-rate", str(max(size // 8, 1))]
    slow = subprocess.Popen(
        [sys.executable, "-m", "carton.client", *fetch],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    part = folder / "part.zip.part"
    deadline = time.monotonic() + 60
    while not (part.is_file() and part.stat().st_size > 0):
        assert slow.poll() is None and time.monotonic() < deadline, "the slowed fetch never began"
        time.sleep(0.05)
    slow.send_signal(signal.SIGKILL)
    slow.wait()
    interrupted_at = part.stat().st_size
    assert 0 < interrupted_at < size and not (folder / "part.zip").exists()
    resumed = carton(api, "downloads", "fetch", download["id"], "-O", "part.zip", cwd=folder)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed at" in resumed.stderr and "verified 4 files" in resumed.stderr
    assert (folder / "part.zip").read_bytes() == (folder / "whole.zip").read_bytes()
    assert not part.exists()


def test_a_damaged_byte_fails_verification(api: Api, folder: Path, download: dict[str, Any]) -> None:
    fetched = carton(api, "downloads", "fetch", download["id"], "-O", "damaged.zip", cwd=folder)
    assert fetched.returncode == 0, fetched.stderr
    archive = folder / "damaged.zip"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside log.txt, the largest member
    archive.write_bytes(bytes(data))
    checked = carton(api, "downloads", "verify", "damaged.zip", cwd=folder)
    assert checked.returncode == 1
    assert checked.stderr.strip() == "carton: damaged.zip is damaged: Bad CRC-32 for file 'log.txt'"


def test_bad_credentials_are_one_line_and_exit_status_2(api: Api, folder: Path) -> None:
    refused = carton(api, "assets", "ls", cwd=folder, token="ctn_not-a-key")
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1
    assert refused.stderr.startswith("carton: ") and "(401)" in refused.stderr


def test_a_refused_download_exits_1_naming_the_field(api: Api, folder: Path) -> None:
    refused = carton(api, "downloads", "create", "no-such-asset", "--wait", cwd=folder)
    assert refused.returncode == 1
    assert "asset_ids" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


def test_a_tar_download_is_fetched_verified_and_extracted(api: Api, folder: Path, tag: str) -> None:
    created = carton(
        api, "-q", "downloads", "create", "--tag", tag, "--format", "tar", "--name", "Trip", "--wait", cwd=folder
    )
    assert created.returncode == 0, created.stderr
    fetched = carton(api, "downloads", "fetch", created.stdout.strip(), "--extract", "from-tar", cwd=folder)
    assert fetched.returncode == 0, fetched.stderr
    assert "Trip.tar" in fetched.stderr and "verified 3 of 4 files against the manifest" in fetched.stderr
    assert (folder / "from-tar" / "log.txt").read_bytes() == (folder / "photos" / "day 2" / "log.txt").read_bytes()


def test_a_shared_link_opens_without_a_key_until_it_is_revoked(
    api: Api, folder: Path, download: dict[str, Any]
) -> None:
    shared = carton(api, "downloads", "share", download["id"], "--days", "1", cwd=folder)
    assert shared.returncode == 0, shared.stderr
    url = shared.stdout.strip()
    assert url.startswith(f"{api.base}/api/v1/shared/shr_")
    assert api.call("GET", url.removeprefix(api.base), token=None).status == 302
    links = json.loads(carton(api, "-o", "json", "downloads", "links", download["id"], cwd=folder).stdout)
    mine = next(link for link in links if link["uses"] == 1 and not link["revoked"])
    assert carton(api, "downloads", "unshare", download["id"], mine["id"], cwd=folder).returncode == 0
    assert api.call("GET", url.removeprefix(api.base), token=None).status == 410


def test_a_file_over_the_multipart_threshold_goes_in_parts(api: Api, tmp_path: Path) -> None:
    if api.home is None:
        pytest.skip("the deployed stack's threshold is 100 MiB")
    data = (uuid.uuid4().hex.encode() + b" a line of a large log\n") * (MULTIPART_THRESHOLD // 50 + 200_000)
    (tmp_path / "large.txt").write_bytes(data)
    added = carton(api, "-o", "json", "assets", "add", "large.txt", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    (upload,) = json.loads(added.stdout)
    assert upload["state"] == "ingested" and upload["size"] == len(data) > MULTIPART_THRESHOLD
    shown = json.loads(carton(api, "-o", "json", "assets", "show", upload["asset"], cwd=tmp_path).stdout)
    assert shown["sha256"] == hashlib.sha256(data).hexdigest()
