"""The e2e walk runs over HTTP: against `python -m carton_local` started on a free port,
or against a deployed stack when CARTON_API_URL (and CARTON_TOKEN) are set."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
MULTIPART_THRESHOLD = 10 * 1024 * 1024


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Api:
    base: str  # scheme://host[:port][/stage]
    token: str
    asset_ids: list[str] = field(default_factory=list)
    home: Path | None = None  # the local stack's CARTON_HOME; None for a deployed stack

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = "default",
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Reply:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Token {self.token if token == 'default' else token}")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with _OPENER.open(request, timeout=30) as response:
                return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
        except urllib.error.HTTPError as error:
            return Reply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def form_post(upload: dict[str, Any], data: bytes, filename: str) -> urllib.request.Request:
    """The upload ticket used as documented: a multipart/form-data POST of its fields, then the file."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in upload["upload_fields"].items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return urllib.request.Request(
        upload["upload_url"],
        data=b"".join(parts),
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def local_stack(home: Path, token: str, log: Path) -> Iterator[tuple[Api, str]]:
    """`python -m carton_local` on a free port with this home (its output appended to `log`);
    yields the API and the banner it printed, and checks that SIGTERM stops it cleanly."""
    from carton_local.demo import DEMO_ASSETS

    port = free_port()
    env = {
        **os.environ,
        "CARTON_BOOTSTRAP_TOKEN": token,
        "PYTHONUNBUFFERED": "1",
        "CARTON_HOME": str(home),
        # Multipart uploads from 10 MiB, so a test sends one without a 100 MiB file.
        "CARTON_MULTIPART_THRESHOLD": str(MULTIPART_THRESHOLD),
    }
    with log.open("a") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "carton_local", "--port", str(port), "--quiet"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    api = Api(f"http://127.0.0.1:{port}", token, [asset[0] for asset in DEMO_ASSETS], home)
    deadline = time.monotonic() + 90
    try:
        while True:
            assert process.poll() is None, f"the local stack exited early:\n{log.read_text()[-3000:]}"
            try:
                if api.call("GET", "/api/v1/health", token=None).status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the local stack did not answer /api/v1/health within 90 s"
            time.sleep(0.3)
        yield api, log.read_text().rsplit("Carton local stack is up", 1)[-1]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            code = -1
    assert code == 0, f"the local stack did not stop cleanly on SIGTERM (exit {code}):\n{log.read_text()[-3000:]}"


def wait_until_finished(api: Api, download_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (download := api.call("GET", f"/api/v1/downloads/{download_id}").json())["state"] not in (
        "complete",
        "failed",
    ):
        assert time.monotonic() < deadline, f"{download_id} still {download['state']} after {timeout} s"
        time.sleep(0.25)
    result: dict[str, Any] = download
    return result


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    if url := os.environ.get("CARTON_API_URL"):
        ids = [i for i in os.environ.get("CARTON_E2E_ASSET_IDS", "").split(",") if i]
        yield Api(url.rstrip("/"), os.environ["CARTON_TOKEN"], ids)
        return
    token = f"ctn_e2e-{secrets.token_urlsafe(16)}"
    # Its own home: a developer's running stack keeps its endpoints file.
    home = tmp_path_factory.mktemp("carton-home")
    with local_stack(home, token, home / "stack.log") as (api, _):
        yield api
