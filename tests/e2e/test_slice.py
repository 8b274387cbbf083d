"""The vertical slice over HTTP: key → create → packaging → complete → 302 → a valid ZIP."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
import zipfile
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import Api, form_post, wait_until_finished

pytestmark = pytest.mark.e2e


def test_health_is_open(api: Api) -> None:
    reply = api.call("GET", "/api/v1/health", token=None)
    assert (reply.status, reply.json()) == (200, {"status": "ok"})


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "field"),
    [
        ("GET", "/api/v1/downloads/x", {"token": None}, 401, "authorization"),
        ("GET", "/api/v1/downloads/x", {"token": "ctn_wrong"}, 401, "authorization"),
        ("POST", "/api/v1/downloads", {"raw": b'{"asset_ids": ['}, 400, "body"),
        ("POST", "/api/v1/downloads", {"body": {"asset_ids": ["demo-logo"], "extra": 1}}, 422, "extra"),
        ("POST", "/api/v1/downloads", {"body": {"asset_ids": [1, 2]}}, 422, "asset_ids.0"),
        ("POST", "/api/v1/downloads", {"body": {"asset_ids": ["no-such-asset"]}}, 422, "asset_ids"),
        ("GET", "/api/v1/no-such-route", {}, 404, "path"),
        ("DELETE", "/api/v1/health", {}, 405, "method"),
        ("GET", "/api/v1/downloads/unknown", {}, 404, "download_id"),
        ("GET", "/api/v1/downloads/unknown/file", {}, 404, "download_id"),
    ],
)
def test_client_mistakes_get_a_4xx_with_the_error_body(
    api: Api, method: str, path: str, kwargs: dict, status: int, field: str
) -> None:
    reply = api.call(method, path, **kwargs)
    assert reply.status == status, reply.body
    body = reply.json()
    assert set(body) == {"message", "errors"}
    assert field in body["errors"], body


def test_a_body_over_the_gateway_limit_is_413(api: Api) -> None:
    reply = api.call("POST", "/api/v1/downloads", raw=b" " * (10 * 1024 * 1024 + 1))
    assert reply.status == 413
    assert "6 MB" in reply.json()["errors"]["body"][0]


def test_one_download_end_to_end(api: Api, tmp_path: Path) -> None:
    assert len(api.asset_ids) >= 2, "needs two asset ids (CARTON_E2E_ASSET_IDS on a deployed stack)"
    chosen = api.asset_ids[:4]
    reply = api.call("POST", "/api/v1/downloads", {"asset_ids": chosen, "name": "E2E walk", "layout": "folders"})
    assert reply.status == 201, reply.body
    created = reply.json()
    assert reply.headers["location"] == created["url"]
    assert created["state"] in ("pending", "packaging")
    assert created["file_url"] is None

    early = api.call("GET", f"/api/v1/downloads/{created['id']}/file")
    assert early.status in (404, 302)  # it may already be done

    download = wait_until_finished(api, created["id"])
    assert download["state"] == "complete", download["error"]
    assert download["complete"] is True and download["is_file_exists"] is True
    assert download["progress"]["files_done"] == download["progress"]["files_total"] == len(chosen)
    assert download["size"] > 0 and download["completed_at"] and download["expires_at"]
    assert download["file_url"].endswith(f"/downloads/{created['id']}/file")

    for link in ("file", "download"):
        redirect = api.call("GET", f"/api/v1/downloads/{created['id']}/{link}")
        assert redirect.status == 302, redirect.body
    location = redirect.headers["location"]
    assert location.startswith(("http://127.0.0.1:", "https://"))
    with urllib.request.urlopen(location, timeout=30) as response:  # a real presigned URL
        assert "attachment" in response.headers["Content-Disposition"]
        assert "E2E walk.zip" in response.headers["Content-Disposition"]
        data = response.read()
    assert len(data) == download["size"]

    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names[-1] == "manifest.json"
    assert [name.split("/")[0] for name in names[:-1]] == chosen
    manifest = json.loads(archive.read("manifest.json"))
    for entry in manifest["files"]:
        member = archive.read(entry["path"])
        assert len(member) == entry["size"]
        assert f"{zlib.crc32(member):08x}" == entry["crc32"]
    if shutil.which("unzip"):
        path = tmp_path / "download.zip"
        path.write_bytes(data)
        checked = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr


local_only = pytest.mark.skipif(
    bool(os.environ.get("CARTON_API_URL")), reason="reaches into the local stack's S3 directly"
)


def local_s3(api: Api, download_id: str) -> str:
    """The local stack's S3 endpoint, read off a presigned archive URL."""
    location = api.call("GET", f"/api/v1/downloads/{download_id}/file").headers["location"]
    parts = urlsplit(location)
    return f"{parts.scheme}://{parts.netloc}"


def finished_download(api: Api) -> dict:
    reply = api.call("POST", "/api/v1/downloads", {"asset_ids": api.asset_ids[:1]})
    assert reply.status == 201, reply.body
    return wait_until_finished(api, reply.json()["id"])


def test_a_presigned_upload_is_ingested_then_imported_again_as_a_duplicate(api: Api) -> None:
    data = b"uploaded through S3, ingested through SQS " + uuid.uuid4().hex.encode() * 100 + b"\n"
    reply = api.call(
        "POST", "/api/v1/assets/uploads", {"filename": "notes ñ.txt", "content_type": "text/plain", "size": len(data)}
    )
    assert reply.status == 201, reply.body
    upload = reply.json()
    assert upload["upload_method"] == "POST"
    with urllib.request.urlopen(form_post(upload, data, "notes.txt"), timeout=30) as response:
        assert response.status in (200, 204)
    deadline = time.monotonic() + 30
    while (state := api.call("GET", f"/api/v1/assets/uploads/{upload['id']}").json())["state"] == "pending":
        assert time.monotonic() < deadline, "the upload was not ingested within 30 s"
        time.sleep(0.25)
    assert state["state"] == "ingested", state["reason"]
    asset = api.call("GET", f"/api/v1/assets/{state['asset']}").json()
    assert asset["size"] == len(data) and asset["crc32"] == f"{zlib.crc32(data):08x}"

    again = api.call(
        "POST",
        "/api/v1/assets",
        {"art": base64.b64encode(data).decode(), "content_type": "text/plain", "filename": "again.txt"},
    )
    assert again.status == 200 and again.json()["key"] == asset["key"]

    reply = api.call("POST", "/api/v1/downloads", {"asset_ids": [asset["key"]]})
    assert reply.status == 201, reply.body
    download = wait_until_finished(api, reply.json()["id"])
    location = api.call("GET", f"/api/v1/downloads/{download['id']}/file").headers["location"]
    with urllib.request.urlopen(location, timeout=30) as response:
        archive = zipfile.ZipFile(io.BytesIO(response.read()))
    assert archive.read("notes ñ.txt") == data


@local_only
def test_removing_the_archive_expires_the_download_through_s3_events_and_sqs(api: Api) -> None:
    download = finished_download(api)
    s3 = local_s3(api, download["id"])
    location = urlsplit(api.call("GET", f"/api/v1/downloads/{download['id']}/file").headers["location"])
    with urllib.request.urlopen(urllib.request.Request(f"{s3}{location.path}", method="DELETE"), timeout=30):
        pass
    deadline = time.monotonic() + 30
    while (state := api.call("GET", f"/api/v1/downloads/{download['id']}").json()["state"]) != "expired":
        assert time.monotonic() < deadline, f"still {state} 30 s after the archive was removed"
        time.sleep(0.25)
    gone = api.call("GET", f"/api/v1/downloads/{download['id']}/file")
    assert gone.status == 410
    assert set(gone.json()) == {"message", "errors"}


def test_the_downloads_api_over_http(api: Api) -> None:
    """Items 1-7, 9 and 10 of the downloads API, walked over HTTP."""
    reply = api.call(
        "POST",
        "/api/v1/downloads",
        {
            "presentation_ids": api.asset_ids[:2],
            "format_flat": 1,
            "name": "Over HTTP",
            "name_template": "{position}-{filename}",
            "renditions": {"individual": {api.asset_ids[1]: {"rendition": "thumbnail"}}},
        },
        headers={"Idempotency-Key": f"walk-{uuid.uuid4().hex}"},
    )
    assert reply.status == 201, reply.body
    download = wait_until_finished(api, reply.json()["id"])
    assert download["state"] == "complete"
    assert download["progress"]["files_skipped"] == 0

    targets = api.call("GET", f"/api/v1/downloads/{download['id']}/targets?limit=1")
    assert targets.status == 200 and targets.json()["count"] == 2 and targets.json()["next"]
    second = api.call("GET", urlsplit(targets.json()["next"]).path + "?" + urlsplit(targets.json()["next"]).query)
    renditions = {
        t["asset_id"]: (t["state"], t["rendition"]) for t in targets.json()["results"] + second.json()["results"]
    }
    assert renditions == {api.asset_ids[0]: ("packed", "original"), api.asset_ids[1]: ("packed", "thumbnail")}
    one = api.call("GET", f"/api/v1/downloads/{download['id']}/targets/{api.asset_ids[0]}.json")
    assert one.status == 200 and one.json()["path"] == f"1-{one.json()['path'][2:]}"

    detail = api.call("GET", f"/api/v1/downloads/{download['id']}")
    assert (
        api.call("GET", f"/api/v1/downloads/{download['id']}", headers={"If-None-Match": detail.headers["etag"]}).status
        == 304
    )
    xml = api.call("GET", f"/api/v1/downloads/{download['id']}.xml")
    assert xml.status == 200 and xml.headers["content-type"].startswith("application/xml")
    assert f"<id>{download['id']}</id>" in xml.body.decode()
    assert api.call("GET", "/api/v1/downloads", headers={"Accept": "application/xml"}).body.startswith(b"<?xml")
    assert api.call("GET", f"/api/v1/downloads/{download['id']}.yaml").status == 404

    listed = api.call("GET", f"/api/v1/downloads.json?complete=true&uid={api.asset_ids[0]}&page_size=1000")
    assert listed.status == 200 and download["id"] in [d["id"] for d in listed.json()["results"]]
    assert api.call("GET", "/api/v1/downloads?page_size=1001").status == 422

    users = api.call("GET", "/api/v1/account/users")
    assert users.status == 200 and users.json()["count"] >= 1

    assert api.call("DELETE", f"/api/v1/downloads/{download['id']}").status == 204
    assert api.call("GET", f"/api/v1/downloads/{download['id']}").status == 404


@local_only
def test_completion_mails_land_in_the_local_outbox(api: Api) -> None:
    # Carton mails the account's users, and other domains only once an admin allows them.
    refused = api.call(
        "POST", "/api/v1/downloads", {"asset_ids": api.asset_ids[:1], "notify": {"emails": ["ops@demo.local"]}}
    )
    assert refused.status == 422 and "notify.emails" in refused.json()["errors"]
    assert api.call("PUT", "/api/v1/account", {"notify_domains": ["demo.local"]}).status == 200
    reply = api.call(
        "POST",
        "/api/v1/downloads",
        {"asset_ids": api.asset_ids[:1], "name": "Mailed", "notify": {"emails": ["ops@demo.local"]}},
    )
    wait_until_finished(api, reply.json()["id"])
    deadline = time.monotonic() + 30
    while True:
        mails = api.call("GET", "/api/v1/_local/outbox").json()["results"]
        if any("“Mailed”" in m["body"] for m in mails):
            break
        assert time.monotonic() < deadline, mails
        time.sleep(0.25)
    mail = next(m for m in mails if "“Mailed”" in m["body"])
    assert mail["subject"] == "Your Carton download is ready"
    assert sorted(mail["to"]) == ["admin@demo.local", "ops@demo.local"]
    assert f"{api.base}/api/v1/shared/shr_" in mail["body"]  # a link its recipients open without a key


def test_the_openapi_document_is_served_without_a_key(api: Api) -> None:
    reply = api.call("GET", "/api/v1/openapi.json", token=None)
    assert reply.status == 200
    document = reply.json()
    assert document["openapi"].startswith("3.") and "/api/v1/downloads" in document["paths"]


@local_only
def test_swagger_ui_renders_offline_everything_it_loads_comes_from_the_api(api: Api) -> None:
    """No network but loopback: the page may load nothing from elsewhere. It inlines the
    Swagger UI Powertools ships and reads the document beside it, which the API serves."""
    reply = api.call("GET", "/api/v1/docs", token=None)
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/html")
    page = reply.body.decode()
    loaded = re.findall(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)\s*=\s*["']([^"']+)""", page)
    assert loaded == [], f"the page would fetch {loaded}"
    assert "SwaggerUIBundle" in page and ".swagger-ui" in page  # the bundle and its style, inline
    document = re.search(r'url: "([^"]+)"', page)
    assert document is not None
    fetched = api.call("GET", urllib.parse.urljoin("/api/v1/docs", document.group(1)), token=None)
    assert fetched.status == 200 and fetched.json()["paths"]


def test_keys_limited_to_a_download_type_and_revoked_keys(api: Api) -> None:
    created = api.call("POST", "/api/v1/account/tokens", {"download_types": ["preview"], "name": "e2e"})
    assert created.status == 201, created.body
    key = created.json()
    limited = Api(api.base, key["token"], api.asset_ids)
    refused = limited.call("POST", "/api/v1/downloads", {"asset_ids": api.asset_ids[:1]})
    assert refused.status == 403 and "download_type" in refused.json()["errors"]
    allowed = limited.call("POST", "/api/v1/downloads", {"asset_ids": api.asset_ids[:1], "download_type": "preview"})
    assert allowed.status == 201
    assert api.call("DELETE", f"/api/v1/account/tokens/{key['id']}").status == 204
    if not os.environ.get("CARTON_API_URL"):  # API Gateway caches authorizer answers for a minute
        assert limited.call("GET", "/api/v1/downloads").status == 401


def test_an_imported_image_converted_in_a_download(api: Api) -> None:
    from PIL import Image

    source = io.BytesIO()
    Image.new("RGB", (300, 200), (30, 90, 160)).save(source, format="PNG")
    reply = api.call(
        "POST",
        "/api/v1/assets",
        {"art": base64.b64encode(source.getvalue()).decode(), "content_type": "image/png", "filename": "sky.png"},
    )
    assert reply.status in (200, 201), reply.body
    key = reply.json()["key"]
    conversion = {"conversion": {"format": "webp", "max_width": 150, "quality": 60}}
    reply = api.call("POST", "/api/v1/downloads", {"asset_ids": [key], "renditions": {"individual": {key: conversion}}})
    download = wait_until_finished(api, reply.json()["id"])
    assert download["state"] == "complete" and download["has_conversions"] is True
    location = api.call("GET", f"/api/v1/downloads/{download['id']}/file").headers["location"]
    with urllib.request.urlopen(location, timeout=30) as response:
        archive = zipfile.ZipFile(io.BytesIO(response.read()))
    with Image.open(io.BytesIO(archive.read("sky.webp"))) as converted:
        assert (converted.format, converted.size) == ("WEBP", (150, 100))
    target = api.call("GET", f"/api/v1/downloads/{download['id']}/targets/{key}").json()
    assert target["rendition"] == "webp 150x q60" and target["size"] == len(archive.read("sky.webp"))
