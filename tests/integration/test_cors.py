"""CORS, from CARTON_CORS_ORIGINS: the functions' own responses (as deployed) and the local
gateway's answers and preflights, over HTTP on 127.0.0.1 against the moto-backed functions."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from carton.shared import config
from carton_local.gateway import gateway_server
from tests.integration.conftest import Carton, load_event

APP = "https://app.example"
OTHER = "https://other.example"
Call = Callable[..., tuple[int, dict[str, str], bytes]]


def _with_origin(event: dict[str, Any], origin: str) -> dict[str, Any]:
    event["headers"]["Origin"] = origin
    event["multiValueHeaders"]["Origin"] = [origin]
    return event


@pytest.fixture
def allow_app(monkeypatch: pytest.MonkeyPatch) -> None:
    # Set before any function module is loaded: resolvers read it when they are built.
    monkeypatch.setenv(config.ENV_CORS_ORIGINS, f"{APP}/, http://localhost:5173")
    config.settings.cache_clear()


def _serve(carton: Carton) -> Iterator[Call]:
    server = gateway_server(carton.functions, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def call(
        method: str, path: str, body: Any = None, *, origin: str | None = APP, token: str | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {"Content-Type": "application/json"}
        if origin:
            headers["Origin"] = origin
        if token:
            headers["Authorization"] = f"Token {token}"
        data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=60)
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    try:
        yield call
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def call(carton: Carton, allow_app: None) -> Iterator[Call]:
    yield from _serve(carton)


def _allows(headers: dict[str, str], origin: str = APP) -> bool:
    return headers.get("access-control-allow-origin") == origin


def test_a_function_adds_cors_headers_for_an_allowed_origin(carton: Carton, allow_app: None) -> None:
    status, headers, _ = carton.api("health", _with_origin(load_event("api/health"), APP))
    assert status == 200
    assert _allows(headers)
    assert set(headers["access-control-expose-headers"].split(",")) == {"Location", "ETag", "Last-Modified"}
    allowed = {name.lower() for name in headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key", "if-none-match", "if-modified-since"} <= allowed
    assert headers["vary"] == "Origin"


def test_a_functions_error_responses_carry_cors_too(carton: Carton, allow_app: None) -> None:
    status, headers, body = carton.api("get_download", _with_origin(load_event("api/get_download"), APP))
    assert status == 404 and set(body) == {"message", "errors"}
    assert _allows(headers)
    event = _with_origin(load_event("api/create_download"), APP)
    event["body"] = "{not json"
    status, headers, _ = carton.api("create_download", event)
    assert status == 400 and _allows(headers)
    event["body"] = json.dumps({"asset_ids": []})
    status, headers, _ = carton.api("create_download", event)
    assert status == 422 and _allows(headers)


def test_a_function_adds_nothing_for_another_origin_or_none(carton: Carton, allow_app: None) -> None:
    _, headers, _ = carton.api("health", _with_origin(load_event("api/health"), OTHER))
    assert "access-control-allow-origin" not in headers
    assert headers["vary"] == "Origin"  # the answer still depends on the Origin
    _, headers, _ = carton.api("health", load_event("api/health"))
    assert "access-control-allow-origin" not in headers


def test_without_origins_a_function_adds_nothing(carton: Carton, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.ENV_CORS_ORIGINS, raising=False)
    _, headers, _ = carton.api("health", _with_origin(load_event("api/health"), APP))
    assert not any(name.startswith("access-control-") for name in headers) and "vary" not in headers


def test_a_browser_walk_through_the_local_gateway(call: Call, carton: Carton) -> None:
    status, headers, _ = call(
        "OPTIONS",
        "/api/v1/downloads",
        origin=APP,
    )
    assert status == 204 and _allows(headers) and "POST" in headers["access-control-allow-methods"]

    status, headers, body = call("POST", "/api/v1/downloads", {"asset_ids": ["demo-readme"]}, token=carton.token)
    assert status == 201 and _allows(headers)
    assert "Location" in headers["access-control-expose-headers"]
    download_url = json.loads(body)["url"]
    path = download_url[download_url.index("/api/v1/") :]

    status, headers, _ = call("GET", path, token=carton.token)
    assert status == 200 and _allows(headers) and "etag" in headers
    status, headers, _ = call("GET", path + ".xml", token=carton.token)
    assert status == 200 and _allows(headers) and headers["content-type"].startswith("application/xml")
    status, headers, _ = call("GET", "/api/v1/downloads/nope", token=carton.token)
    assert status == 404 and _allows(headers)  # the function's 404
    status, headers, _ = call("GET", "/api/v1/downloads")  # no key: the gateway's 401
    assert status == 401 and _allows(headers)
    status, headers, _ = call("PATCH", "/api/v1/downloads")  # the gateway's 405
    assert status == 405 and _allows(headers) and headers["allow"] == "GET, OPTIONS, POST"


def test_another_origin_gets_no_cors_headers_through_the_gateway(call: Call, carton: Carton) -> None:
    for method, path, token, status in [
        ("OPTIONS", "/api/v1/downloads", None, 204),
        ("GET", "/api/v1/downloads", carton.token, 200),
        ("GET", "/api/v1/downloads", None, 401),
        ("GET", "/api/v1/nothing", None, 404),
    ]:
        got, headers, _ = call(method, path, origin=OTHER, token=token)
        assert got == status
        assert not any(name.startswith("access-control-") for name in headers), (method, path)


def test_without_origins_the_gateway_answers_no_preflight(carton: Carton, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.ENV_CORS_ORIGINS, raising=False)
    for call in _serve(carton):
        status, headers, _ = call("OPTIONS", "/api/v1/downloads")
        assert status == 405 and headers["allow"] == "GET, POST"
        status, headers, _ = call("GET", "/api/v1/downloads", token=carton.token)
        assert status == 200
        assert not any(name.startswith("access-control-") for name in headers) and "vary" not in headers
