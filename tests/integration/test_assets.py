"""Assets over the API: import (base64, URL), de-duplication, metadata, lists, 410 GONE."""

from __future__ import annotations

import base64
import json
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from carton.assets.service import MAX_BASE64_BYTES
from carton.shared import config
from carton.web.routes import UPLOAD_ROUTE
from carton_local.demo import png
from tests.integration.conftest import Carton, api_event, load_event

PNG = png(30, 20, (10, 200, 30))


def call(
    carton: Carton,
    function: str,
    method: str,
    path: str,
    body: Any = None,
    parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> tuple[int, Any]:
    status, _, answer = carton.api(function, api_event(method, path, body, parameters=parameters, query=query))
    return status, answer


def import_(carton: Carton, **fields: Any) -> tuple[int, Any]:
    body = {"art": base64.b64encode(PNG).decode(), "content_type": "image/png", "filename": "leaf.png", **fields}
    return call(carton, "import_asset", "POST", "/api/v1/assets", body)


def test_base64_import_records_checksums_dimensions_and_metadata(carton: Carton) -> None:
    status, asset = import_(
        carton,
        batch="2026-11-23T09:42:16.123Z",
        translations=[{"language": "en", "title": "Leaf", "tags": ["green", "$internal", "plant"]}],
        note="private",
    )
    assert status == 201
    assert (asset["size"], asset["crc32"], asset["width"], asset["height"]) == (
        len(PNG),
        f"{zlib.crc32(PNG):08x}",
        30,
        20,
    )
    assert asset["media_type"] == "image" and asset["translations"][0]["tags"] == ["$internal", "green", "plant"]
    assert asset["batch"].startswith("2026-11-23T09:42:16.123")
    status, again = import_(carton, filename="other.png", update=False)
    assert (status, again["key"], again["filename"]) == (200, asset["key"], "leaf.png")
    status, updated = import_(carton, filename="renamed.png", update=True, translations=[])
    assert (status, updated["key"], updated["filename"], updated["translations"]) == (
        200,
        asset["key"],
        "renamed.png",
        [],
    )


def test_base64_art_over_the_limit_names_the_uploads_endpoint(carton: Carton) -> None:
    """4 MiB of file is 5.33 MiB of base64: the most a 6 MB Lambda request can carry with room to spare."""
    fits = base64.b64encode(b"plain text\n" * (MAX_BASE64_BYTES // 11)).decode()
    assert import_(carton, art=fits, content_type="text/plain", filename="fits.txt")[0] == 201
    too_big = base64.b64encode(b"x" * (MAX_BASE64_BYTES + 1)).decode()
    status, error = import_(carton, art=too_big, content_type="text/plain")
    assert status == 413 and UPLOAD_ROUTE in error["errors"]["art"][0], error


@pytest.mark.parametrize(
    ("fields", "status", "field"),
    [
        ({"art": "@@not base64@@"}, 422, "art"),
        ({"art": ""}, 422, "art"),
        ({"art": base64.b64encode(b"").decode() or "AA=="}, 422, "art"),
        ({"content_type": "image/jpeg"}, 422, "content_type"),
        ({"content_type": None}, 422, "content_type"),
        ({"art": base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()}, 422, "art"),
        (
            {"art": base64.b64encode(b"MZ\x90\x00 executable").decode(), "content_type": "application/x-msdownload"},
            422,
            "art",
        ),
        ({"translations": [{"language": "it", "title": "Foglia"}]}, 422, "translations.0.language"),
        ({"batch": "yesterday"}, 422, "batch"),
        ({"batch": "2026-11-23T10:00:00+02:00"}, 422, "batch"),
        ({"filename": "bad\x07name.png"}, 422, "filename"),
        ({"art": "A" * (25 * 1024 * 1024)}, 413, "art"),
        ({"art": "https://10.0.0.7/leaf.png"}, 422, "art"),
        ({"art": "http://example.com/leaf.png"}, 422, "art"),
    ],
)
def test_bad_imports_are_4xx_and_store_nothing(carton: Carton, fields: dict[str, Any], status: int, field: str) -> None:
    got, error = import_(carton, **fields)
    assert got == status, error
    assert field in error["errors"], error
    items = carton.store.table.scan()["Items"]
    assert len([i for i in items if i["sk"].startswith("ASSET#")]) == 4  # the demo assets only


class Origin(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/leaf.png")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/to-metadata":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PNG)))
        self.end_headers()
        self.wfile.write(PNG)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def origin(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # Only loopback and only because of this opt-in: the same switch the local stack offers.
    monkeypatch.setenv(config.ENV_ALLOW_LOOPBACK_FETCHES, "1")
    config.settings.cache_clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_url_import_follows_checked_redirects(carton: Carton, origin: str) -> None:
    status, asset = import_(carton, art=f"{origin}/moved", content_type=None)
    assert status == 201 and asset["content_type"] == "image/png" and asset["size"] == len(PNG)
    status, error = import_(carton, art=f"{origin}/to-metadata", content_type=None)
    assert status == 422 and "art" in error["errors"]


def test_get_put_delete_and_410(carton: Carton) -> None:
    _, asset = import_(carton, translations=[{"language": "en", "title": "Leaf"}, {"language": "de", "title": "Blatt"}])
    path, key = f"/api/v1/assets/{asset['key']}", {"key": asset["key"]}
    status, got = call(carton, "get_asset", "GET", path, parameters=key)
    assert status == 200 and got["key"] == asset["key"]
    replacement = {
        "filename": "leaf-v2.png",
        "translations": [{"language": "de", "title": "Blatt"}],
        "note": None,
        "mature": True,
    }
    status, replaced = call(carton, "replace_asset", "PUT", path, replacement, parameters=key)
    assert status == 200 and [t["language"] for t in replaced["translations"]] == ["de"] and replaced["mature"]
    status, error = call(carton, "replace_asset", "PUT", path, {"filename": "x.png"}, parameters=key)
    assert status == 422 and {"translations", "note", "mature"} <= set(error["errors"])
    assert call(carton, "delete_asset", "DELETE", path, parameters=key)[0] == 204
    assert call(carton, "get_asset", "GET", path, parameters=key)[0] == 410
    assert call(carton, "delete_asset", "DELETE", path, parameters=key)[0] == 410
    assert call(carton, "get_asset", "GET", "/api/v1/assets/NEVER", parameters={"key": "NEVER"})[0] == 410
    status, again = import_(carton)  # its bytes are free again: a new asset
    assert status == 201 and again["key"] != asset["key"]


def test_lists_filter_by_media_type_tag_and_batch(carton: Carton) -> None:
    _, tagged = import_(carton, batch="2026-01-02T03:04:05.678Z", translations=[{"language": "en", "tags": ["leaf"]}])
    status, page = call(carton, "list_assets", "GET", "/api/v1/assets", query={"limit": "2"})
    assert status == 200 and page["count"] == 5 and len(page["results"]) == 2 and page["next"]
    assert call(carton, "list_assets", "GET", "/api/v1/assets", query={"media_type": "image"})[1]["count"] == 3
    assert [
        a["key"] for a in call(carton, "list_assets", "GET", "/api/v1/assets", query={"tag": "leaf"})[1]["results"]
    ] == [tagged["key"]]
    by_batch = call(carton, "list_assets", "GET", "/api/v1/assets", query={"batch": "2026-01-02T03:04:05.678Z"})[1]
    assert [a["key"] for a in by_batch["results"]] == [tagged["key"]]
    assert call(carton, "list_assets", "GET", "/api/v1/assets", query={"media_type": "sound"})[0] == 422
    assert call(carton, "list_assets", "GET", "/api/v1/assets", query={"limit": "1001"})[0] == 422


def test_an_assets_downloads(carton: Carton) -> None:
    event = load_event("api/create_download")
    event["body"] = json.dumps({"asset_ids": ["demo-logo"]})
    created = carton.api("create_download", event)[2]
    status, page = call(
        carton, "asset_downloads", "GET", "/api/v1/assets/demo-logo/downloads", parameters={"key": "demo-logo"}
    )
    assert status == 200 and [d["id"] for d in page["results"]] == [created["id"]]


def test_uploads_refuse_unsupported_types_and_report_their_state(carton: Carton) -> None:
    status, error = call(
        carton,
        "create_upload",
        "POST",
        "/api/v1/assets/uploads",
        {"filename": "a.exe", "content_type": "application/x-msdownload", "size": 10},
    )
    assert status == 422 and "content_type" in error["errors"]
    assert (
        call(
            carton,
            "create_upload",
            "POST",
            "/api/v1/assets/uploads",
            {"filename": "a.mp4", "content_type": "video/mp4", "size": 50 * 1024**3 + 1},
        )[0]
        == 422
    )
    status, upload = call(
        carton,
        "create_upload",
        "POST",
        "/api/v1/assets/uploads",
        {"filename": "clip.mp4", "content_type": "video/mp4", "size": 1000},
    )
    assert status == 201 and upload["state"] == "pending" and upload["upload_url"]
    assert upload["upload_method"] == "POST" and upload["upload_fields"]["Content-Type"] == "video/mp4"
    policy = json.loads(base64.b64decode(upload["upload_fields"]["policy"]))
    assert ["content-length-range", 1000, 1000] in policy["conditions"]
    assert upload["upload_fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    path = f"/api/v1/assets/uploads/{upload['id']}"
    status, seen = call(carton, "get_upload", "GET", path, parameters={"upload_id": upload["id"]})
    assert status == 200 and seen["state"] == "pending" and seen["upload_url"] is None
    assert call(carton, "get_upload", "GET", "/api/v1/assets/uploads/nope", parameters={"upload_id": "nope"})[0] == 404
