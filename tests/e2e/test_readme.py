"""The README's walk runs as pasted: its shell blocks, in order, in one bash, against the
local stack (the e2e one), with the `export` line the banner prints. The banner itself is
the one the README shows."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import ROOT, Api, local_stack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(bool(os.environ.get("CARTON_API_URL")), reason="the walk is of the local stack"),
    pytest.mark.skipif(shutil.which("curl") is None, reason="the walk uses curl"),
]

README = ROOT / "README.md"
WALK = "## Walk through one download (local stack)"
# The line a reader pastes from the banner; the test has the real values in its environment.
PASTED = re.compile(r"^export CARTON_PORT=\S+ CARTON_TOKEN=ctn_\.\.\..*$", re.M)
CLI = "## Quick start with the CLI (local stack)"
ACTIVATE = re.compile(r"^source \.venv/bin/activate$", re.M)


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    following = text.find("\n## ", start + len(heading))
    return text[start : following if following != -1 else len(text)]


def walk_blocks(heading: str = WALK) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", section(README.read_text(), heading), re.S)


def test_the_walk_has_blocks_and_the_pasted_line_first() -> None:
    blocks = walk_blocks()
    assert len(blocks) >= 5
    assert PASTED.search(blocks[0]), "the walk starts with the line the banner prints"
    assert all("<" not in block.replace("< note.txt", "") for block in blocks), "no <placeholders> in the walk"
    assert all("jq" not in block.split() for block in blocks)


def test_every_walk_block_runs_as_pasted(api: Api, tmp_path: Path) -> None:
    script = "\n".join(PASTED.sub("", block) for block in walk_blocks())
    port = urlsplit(api.base).port
    env = {**os.environ, "CARTON_PORT": str(port), "CARTON_TOKEN": api.token}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    created = (tmp_path / "created.txt").read_text()
    assert re.match(r"HTTP/1\.1 201", created) and re.search(r"^[Ll]ocation: http", created, re.M)
    assert '"complete"' in (tmp_path / "download.json").read_text()
    with zipfile.ZipFile(tmp_path / "spring.zip") as archive:
        assert archive.testzip() is None
        assert "manifest.json" in archive.namelist()
        assert any(name.startswith("demo-logo/") for name in archive.namelist())
    assert re.search(r"^302 -> http://127\.0\.0\.1", done.stdout, re.M), done.stdout
    assert "204" in done.stdout.split()  # the upload's POST to S3
    assert '"ingested"' in (tmp_path / "upload.json").read_text()


def test_the_banner_is_the_one_the_readme_shows(tmp_path: Path) -> None:
    """The same labelled lines, and the `export` line the walk starts from."""
    shown = re.search(r"`make run` prints something like:\n\n```\n(.*?)```", README.read_text(), re.S)
    assert shown is not None
    token = "ctn_readme-banner-check-000000000000"
    with local_stack(tmp_path / "home", token, tmp_path / "stack.log") as (api, printed):
        port = urlsplit(api.base).port

    def labels(text: str) -> list[str]:
        return re.findall(r"^  ([A-Z][a-z]+) ", text, re.M)

    assert labels(printed) == labels(shown.group(1))
    assert f"export CARTON_PORT={port} CARTON_TOKEN={token}" in printed
    assert "export CARTON_PORT=3000 CARTON_TOKEN=" in shown.group(1)


def test_the_cli_quick_start_runs_as_pasted(api: Api, tmp_path: Path) -> None:
    """Its lines in one bash: the pasted `export` and the venv's activation are what this
    test's environment does already (the stack's port and key, `carton` on PATH)."""
    blocks = walk_blocks(CLI)
    assert PASTED.search(blocks[0]) and ACTIVATE.search(blocks[0])
    script = "\n".join(ACTIVATE.sub("", PASTED.sub("", block)) for block in blocks)
    port = urlsplit(api.base).port
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "CARTON_PORT": str(port), "CARTON_TOKEN": api.token, "PATH": path}
    env.pop("CARTON_API_URL", None)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert (tmp_path / "trip-unpacked" / "notes.md").read_text() == "Day two.\n"
    assert "verified 3 files (CRC-32), 2 against the manifest (SHA-256)" in done.stderr
