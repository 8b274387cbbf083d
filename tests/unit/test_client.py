"""carton.client without a server: where it finds the API, how it retries and reports
errors (httpx's MockTransport answers), and how it checks and extracts archives."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path

import httpx
import pytest

from carton.accounts.api import CreateTokenRequest
from carton.client import ApiError, Client, load_profile
from carton.client import client as client_module
from carton.client.config import ConfigError
from carton.client.transfer import (
    TransferError,
    archive_kind,
    content_type_of,
    extract_archive,
    fetch_archive,
    safe_destination,
    verify_archive,
)
from carton.downloads.api import CreateDownloadRequest
from carton.storage.keys import name_sort_key

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        '[default]\napi_url = "https://default.example/prod/"\ntoken = "ctn_default"\n'
        '[profiles.staging]\napi_url = "https://staging.example/api/v1"\ntoken = "ctn_staging"\n'
    )
    for name in ("CARTON_API_URL", "CARTON_TOKEN", "CARTON_PROFILE", "CARTON_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CARTON_CONFIG", str(path))
    return path


def test_flags_then_environment_then_profile_then_the_local_stack(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_profile().api_url == "https://default.example/prod"
    assert load_profile("staging").api_url == "https://staging.example"  # /api/v1 pasted along is dropped
    assert load_profile("staging").token == "ctn_staging"
    monkeypatch.setenv("CARTON_API_URL", "http://127.0.0.1:4000/")
    monkeypatch.setenv("CARTON_TOKEN", "ctn_env")
    assert (load_profile().api_url, load_profile().token) == ("http://127.0.0.1:4000", "ctn_env")
    assert load_profile("staging").token == "ctn_staging"  # a named profile wins over the environment
    assert load_profile(api_url="http://127.0.0.1:5000", token="ctn_flag").token == "ctn_flag"
    config.unlink()
    monkeypatch.delenv("CARTON_API_URL")
    monkeypatch.setenv("CARTON_PORT", "3111")
    assert load_profile().api_url == "http://127.0.0.1:3111"


def test_a_missing_profile_names_the_ones_there_are(config: Path) -> None:
    with pytest.raises(ConfigError, match=r"no profile 'prod'.*default, staging"):
        load_profile("prod")


def mock_client(answers: list[httpx.Response], seen: list[httpx.Request]) -> Client:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    return Client("http://127.0.0.1:9", "ctn_k", transport=httpx.MockTransport(answer))


def test_transient_answers_are_retried_with_one_idempotency_key(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", waits.append)
    seen: list[httpx.Request] = []
    busy = httpx.Response(503, headers={"Retry-After": "2"}, json={"message": "Storage busy", "errors": {}})
    client = mock_client([busy, httpx.Response(429, json={"message": "Slow down"}), busy], seen)
    client.retries = 2
    with pytest.raises(ApiError) as raised:
        client.create_download(CreateDownloadRequest(asset_ids=["a1"]))
    assert raised.value.status == 503 and raised.value.message == "Storage busy"
    assert len(seen) == 3 and len({request.headers["Idempotency-Key"] for request in seen}) == 1
    assert waits[0] == 2.0  # Retry-After honoured
    assert json.loads(seen[0].content) == {"asset_ids": ["a1"]}
    assert seen[0].headers["Authorization"] == "Token ctn_k"


def test_an_error_carries_the_apis_message_and_fields() -> None:
    refused = httpx.Response(422, json={"message": "Validation failed", "errors": {"asset_ids": ["unknown: x"]}})
    client = mock_client([refused], [])
    with pytest.raises(ApiError) as raised:
        client.get_download("d1")
    assert raised.value.errors == {"asset_ids": ["unknown: x"]}
    assert str(raised.value) == "Validation failed (422) — asset_ids: unknown: x"
    assert not raised.value.is_authentication


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_verify_checks_crcs_and_the_manifest(tmp_path: Path) -> None:
    manifest = {"files": [{"path": "a.txt", "size": 3, "sha256": "0" * 64, "crc32": f"{zlib.crc32(b'abc'):08x}"}]}
    archive = tmp_path / "a.zip"
    archive.write_bytes(zip_of({"a.txt": b"abc", "manifest.json": json.dumps(manifest).encode()}))
    with pytest.raises(TransferError, match=r"a\.txt: size or SHA-256 differs from the manifest"):
        verify_archive(archive)
    plain = tmp_path / "b.zip"
    plain.write_bytes(zip_of({"b.txt": b"hello" * 100}))
    assert verify_archive(plain).files == 1
    damaged = bytearray(plain.read_bytes())
    damaged[damaged.index(b"hello") + 7] ^= 0x20
    plain.write_bytes(bytes(damaged))
    with pytest.raises(TransferError, match=r"Bad CRC-32 for file 'b\.txt'"):
        verify_archive(plain)


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/passwd", "a/../../b", "C:/x.txt", "a\\..\\..\\b"])
def test_extraction_refuses_names_that_escape(tmp_path: Path, name: str) -> None:
    with pytest.raises(TransferError, match="outside"):
        safe_destination(tmp_path, name)


def test_extraction_keeps_folders_inside(tmp_path: Path) -> None:
    assert safe_destination(tmp_path, "day 2/notes.md") == (tmp_path / "day 2" / "notes.md").resolve()


def test_the_client_imports_no_aws_sdk_powertools_or_pillow() -> None:
    probe = (
        "import sys; import carton.client, carton.client.transfer; "
        "print(sorted(m for m in ('boto3', 'botocore', 'aws_lambda_powertools', 'PIL') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_post_that_may_have_acted_is_not_sent_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module.time, "sleep", lambda _: None)
    seen: list[httpx.Request] = []
    busy = httpx.Response(503, json={"message": "Storage busy", "errors": {}})
    client = mock_client([busy, busy], seen)
    with pytest.raises(ApiError):
        client.create_token(CreateTokenRequest(name="ci"))
    assert len(seen) == 1  # a second key must not be made behind the caller's back


def test_a_tar_ending_in_a_zip_is_read_as_the_tar_it_is(tmp_path: Path) -> None:
    hidden = zip_of({"evil.txt": b"not what was packed"})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in (("photo.jpg", b"\xff\xd8" + b"x" * 100 + hidden),):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    path = tmp_path / "a.tar"
    path.write_bytes(buffer.getvalue())
    assert archive_kind(path) == "tar"
    assert extract_archive(path, tmp_path / "out") == 1
    assert (tmp_path / "out" / "photo.jpg").exists() and not (tmp_path / "out" / "evil.txt").exists()


def test_a_complete_part_file_is_kept_when_the_rest_is_nothing(tmp_path: Path) -> None:
    data = b"the whole archive"
    (tmp_path / "a.zip.part").write_bytes(data)
    (tmp_path / "a.zip.part.json").write_text(json.dumps({"download_id": "d1", "etag": '"e1"'}))

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/file"):
            return httpx.Response(302, headers={"Location": "http://127.0.0.1:9/archives/a.zip"})
        assert request.headers["Range"] == f"bytes={len(data)}-"
        return httpx.Response(416, headers={"Content-Range": f"bytes */{len(data)}"})

    client = Client("http://127.0.0.1:9", "ctn_k", transport=httpx.MockTransport(answer))
    fetched = fetch_archive(client, "d1", tmp_path / "a.zip")
    assert (tmp_path / "a.zip").read_bytes() == data and fetched.resumed_from == len(data)


def test_a_long_folded_name_still_fits_a_sort_key() -> None:
    key = name_sort_key("ΐ" * 255, "A0123456789ABCDEF")
    assert len(key.encode()) <= 1024 and key.endswith("#A0123456789ABCDEF")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("notes.md", "text/markdown"), ("a.webp", "image/webp"), ("b.csv", "text/csv"), ("c.JPEG", "image/jpeg")],
)
def test_a_file_is_declared_as_the_type_carton_accepts(name: str, expected: str) -> None:
    assert content_type_of(Path(name)) == expected
