"""The local stack's edges over HTTP: the gateway against hostile HTTP and Lambda's payload
limit, and S3 enforcing a presigned POST form's policy (which moto alone does not)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import urllib3
from botocore.config import Config
from botocore.exceptions import ClientError

from carton.web.routes import GATEWAY_ANSWERS, MAX_EVENT_BYTES
from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e
local_only = pytest.mark.skipif(bool(os.environ.get("CARTON_API_URL")), reason="the local stack's own servers")


def _raw(api: Api, data: bytes, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """`data` sent as is to the gateway; its answer."""
    address = urlsplit(api.base)
    with socket.create_connection((address.hostname or "127.0.0.1", address.port or 80), timeout=timeout) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock, method=data.split(b" ", 1)[0].decode())
        response.begin()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def _error_body(body: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(body)
    assert set(document) == {"message", "errors"}
    return document


@local_only
@pytest.mark.parametrize("length", ["abc", "-1"])
def test_a_malformed_content_length_is_a_400(api: Api, length: str) -> None:
    request = f"POST /api/v1/downloads HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{{}}".encode()
    status, _, body = _raw(api, request)
    assert status == 400
    assert "content-length" in _error_body(body)["errors"]


@local_only
@pytest.mark.parametrize(("method", "path", "status"), [("TRACE", "/api/v1/health", 405), ("CONNECT", "/x", 404)])
def test_trace_connect_and_unknown_methods_are_answered_in_json(api: Api, method: str, path: str, status: int) -> None:
    got, headers, body = _raw(api, f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert got == status
    _error_body(body)
    if status == 405:
        assert {method.strip() for method in headers["allow"].split(",")} - {"OPTIONS"} == {"GET"}


def test_every_405_says_what_is_allowed(api: Api) -> None:
    reply = api.call("PUT", "/api/v1/downloads", {})
    assert reply.status == 405
    assert {method.strip() for method in reply.headers["allow"].split(",")} >= {"GET", "POST"}


@local_only
def test_a_burst_of_connections_is_answered(api: Api) -> None:
    def one(_: int) -> int:
        return _raw(api, b"GET /api/v1/no-such-route HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0]

    with ThreadPoolExecutor(max_workers=100) as pool:
        assert list(pool.map(one, range(100))) == [404] * 100


def test_a_request_over_lambdas_6_mb_is_a_413(api: Api) -> None:
    art = "A" * (MAX_EVENT_BYTES + 1024)  # under API Gateway's 10 MB, over Lambda's 6 MB
    reply = api.call("POST", "/api/v1/assets", {"art": art, "content_type": "text/plain", "filename": "a.txt"})
    assert reply.status == 413
    body = reply.json()
    if api.home is not None:  # the local stack; a deployed one answers through its gateway responses
        assert body == GATEWAY_ANSWERS["REQUEST_TOO_LARGE"].body()
        assert "POST /api/v1/assets/uploads" in body["errors"]["body"][0]  # where larger files go


# --- S3 enforces a POST form's policy ---------------------------------------------------------


def _s3_of(api: Api) -> tuple[str, str]:
    """The local stack's S3 endpoint and assets bucket, read off an upload ticket."""
    reply = api.call(
        "POST", "/api/v1/assets/uploads", {"filename": "probe.bin", "content_type": "image/png", "size": 8}
    )
    assert reply.status == 201, reply.body
    url = urlsplit(reply.json()["upload_url"])
    return f"{url.scheme}://{url.netloc}", url.path.strip("/").split("/")[0]


def _post_form(url: str, fields: dict[str, str], data: bytes, content_type: str) -> urllib3.BaseHTTPResponse:
    return urllib3.request("POST", url, fields={**fields, "file": ("file.bin", data, content_type)}, timeout=30)


@local_only
def test_a_presigned_post_is_bounded_by_its_policy(api: Api) -> None:
    endpoint, bucket = _s3_of(api)
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(signature_version="s3v4"),
    )

    def form(key: str, size: int) -> dict[str, Any]:
        return s3.generate_presigned_post(
            bucket,
            key,
            Fields={"Content-Type": "application/octet-stream"},
            Conditions=[{"Content-Type": "application/octet-stream"}, ["content-length-range", size, size]],
            ExpiresIn=300,
        )

    def stored(key: str) -> int | None:
        try:
            return int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
        except ClientError:
            return None

    prefix = f"e2e-post-policy/{uuid.uuid4().hex}"
    exact = form(f"{prefix}/exact", 1000)
    answer = _post_form(exact["url"], exact["fields"], b"x" * 1000, "application/octet-stream")
    assert answer.status == 204, answer.data
    assert stored(f"{prefix}/exact") == 1000

    for name, size, code in [("bigger", 1001, "EntityTooLarge"), ("smaller", 999, "EntityTooSmall")]:
        post = form(f"{prefix}/{name}", 1000)
        answer = _post_form(post["url"], post["fields"], b"x" * size, "application/octet-stream")
        assert answer.status == 400, answer.data
        assert f"<Code>{code}</Code>" in answer.data.decode()
        assert stored(f"{prefix}/{name}") is None

    other_type = form(f"{prefix}/typed", 10)
    fields = {**other_type["fields"], "Content-Type": "text/html"}
    answer = _post_form(other_type["url"], fields, b"x" * 10, "text/html")
    assert answer.status == 403
    assert "Policy Condition failed" in answer.data.decode()
    assert stored(f"{prefix}/typed") is None


@local_only
def test_an_upload_ticket_refuses_a_file_of_another_size(api: Api) -> None:
    reply = api.call("POST", "/api/v1/assets/uploads", {"filename": "a.png", "content_type": "image/png", "size": 64})
    assert reply.status == 201, reply.body
    ticket = reply.json()
    answer = _post_form(ticket["upload_url"], ticket["upload_fields"], b"\x89PNG" * 32, "image/png")
    assert answer.status == 400
    assert "<Code>EntityTooLarge</Code>" in answer.data.decode()
    assert api.call("GET", f"/api/v1/assets/uploads/{ticket['id']}").json()["state"] == "pending"
