"""Whatever a client sends, the API answers a 4xx in the one error body, never a 5xx (the
gateway's answer to a function that crashed) and never an exception's text: bodies in any
content type, JSON nested without end or holding what Python cannot (NaN, 5,000-digit
numbers, lone surrogates), odd field names in XML, odd query strings, path parameters and
headers. Over HTTP through the local gateway on 127.0.0.1, against the moto-backed functions."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carton.shared import config
from carton.shared.errors import BadRequest, CartonError, NotFound, UnsupportedMediaType
from carton.web.requests import MAX_JSON_DEPTH, MAX_PATH_PARAMETER_BYTES, json_too_deep, parse_json_body, screen
from carton_local.gateway import gateway_server
from tests.integration.conftest import Carton, load_event

Reply = tuple[int, dict[str, str], bytes]
Call = Callable[..., Reply]
CREATE = "/api/v1/downloads"
VALID = '{"asset_ids": ["demo-readme"]}'


@pytest.fixture
def call(carton: Carton) -> Iterator[Call]:
    server = gateway_server(carton.functions, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def send(method: str, path: str, body: str | bytes | None = None, headers: dict[str, str] | None = None) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=60)
        sent = {"Authorization": f"Token {carton.token}", **(headers or {})}
        data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
        try:
            connection.putrequest(method, path, skip_accept_encoding=True)
            for name, value in sent.items():
                connection.putheader(name, value)
            if data is not None:
                connection.putheader("Content-Length", str(len(data)))
            connection.endheaders(data)
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    try:
        yield send
    finally:
        server.shutdown()
        server.server_close()


def error_of(reply: Reply, status: int) -> dict[str, Any]:
    """The error body of `reply`, which must have `status`."""
    got, headers, body = reply
    assert got == status, body
    assert headers["content-type"].startswith("application/json")
    document: dict[str, Any] = json.loads(body)
    assert set(document) == {"message", "errors"}
    assert all(isinstance(reasons, list) for reasons in document["errors"].values())
    assert "Traceback" not in body.decode() and "Error:" not in body.decode()
    return document


def post(call: Call, body: str | bytes, content_type: str | None = "application/json", path: str = CREATE) -> Reply:
    return call("POST", path, body, {} if content_type is None else {"Content-Type": content_type})


# ---- content types --------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",  # no boundary: Powertools raised ValueError (502)
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "text/plain",
        "application/xml",
        "application/octet-stream",
        "application/jsonp",
        ";",
    ],
)
def test_a_body_in_another_content_type_is_a_415(call: Call, content_type: str) -> None:
    """Unless it is JSON sent as what clients send when the header was forgotten."""
    media_type = content_type.split(";")[0].strip() or content_type
    forgotten = media_type in ("application/x-www-form-urlencoded", "text/plain")
    for body in (VALID, "", '--x\r\nContent-Disposition: form-data; name="asset_ids\xff"\r\n\r\nx\r\n--x--\r\n'):
        if forgotten and body == VALID:
            assert post(call, body, content_type)[0] == 201  # curl -d without -H: read as the JSON it is
            continue
        error = error_of(post(call, body, content_type), 415)
        assert error["errors"] == {"content-type": [f"got {media_type}; send application/json"]}
        assert "Content-Type: application/json" in error["message"]


def test_a_multipart_body_with_bytes_that_are_not_utf8_is_a_415(call: Call) -> None:
    body = b'--x\r\nContent-Disposition: form-data; name="asset_ids\xff"\r\n\r\ndemo-readme\r\n--x--\r\n'
    error_of(post(call, body, "multipart/form-data; boundary=x"), 415)


@pytest.mark.parametrize("content_type", [None, "", "APPLICATION/JSON", "Application/Json; charset=utf-8"])
def test_json_in_any_spelling_of_its_media_type_or_none_is_json(call: Call, content_type: str | None) -> None:
    assert post(call, VALID, content_type)[0] == 201


# ---- JSON the parser chokes on ----------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 100_000])
def test_json_nested_deeper_than_the_limit_is_a_400_that_says_the_limit(call: Call, depth: int) -> None:
    for body in ("[" * depth + "]" * depth, '{"asset_ids":' + '{"a":' * depth + "1" + "}" * depth + "}"):
        error = error_of(post(call, body), 400)
        assert error["errors"]["body"] == [f"arrays and objects may nest at most {MAX_JSON_DEPTH} deep"]


def test_json_at_the_depth_limit_is_read_and_brackets_in_strings_do_not_count(call: Call) -> None:
    nested = '{"a":' * (MAX_JSON_DEPTH - 1) + "1" + "}" * (MAX_JSON_DEPTH - 1)
    error = error_of(post(call, '{"asset_ids": ["demo-readme"], "renditions": ' + nested + "}"), 422)
    assert "renditions.a" in error["errors"]
    assert post(call, json.dumps({"asset_ids": ["demo-readme"], "name": "[" * 200}))[0] == 201


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"asset_ids": ["demo-readme"], "name": NaN}', "NaN is not a JSON number"),
        ('{"asset_ids": ["demo-readme"], "name": -Infinity}', "-Infinity is not a JSON number"),
        ('{"asset_ids": ["demo-readme"], "name": ' + "9" * 5000 + "}", "a number too long to read"),
        ('{"asset_ids": ["demo-readme"], "name": "\\ud800"}', "unpaired surrogate"),
        ('{"asset_ids": ["demo-readme"], "\\udfff": 1}', "unpaired surrogate"),
        ('{"asset_ids": ["demo-readme"', "line 1"),
        ("\ufeff" + VALID, "BOM"),
    ],
)
def test_json_python_cannot_hold_is_a_400(call: Call, body: str, reason: str) -> None:
    error = error_of(post(call, body), 400)
    assert reason in error["errors"]["body"][0]


def test_a_surrogate_pair_is_a_character(call: Call) -> None:
    status, _, body = post(call, '{"asset_ids": ["demo-readme"], "name": "\\ud83d\\udce6"}')
    assert status == 201 and json.loads(body)["name"] == "\N{PACKAGE}"


@pytest.mark.parametrize("path", ["/api/v1/assets", "/api/v1/assets/uploads", "/api/v1/account/users"])
def test_every_body_route_is_screened(call: Call, path: str) -> None:
    error_of(post(call, "[" * 1000 + "]" * 1000, path=path), 400)
    error_of(post(call, "{}", "multipart/form-data", path=path), 415)
    error_of(call("PUT", "/api/v1/assets/demo-readme", '{"note": NaN}', {"Content-Type": "application/json"}), 400)


# ---- XML --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a b", "a<b", "@id", "#text", "xmlns", "1st", "a:b", "\x00", "é", "$ref"])
def test_any_unknown_field_name_is_named_in_the_xml_error(call: Call, name: str) -> None:
    body = json.dumps({"asset_ids": ["demo-readme"], name: 1})
    for path, headers in ((CREATE + ".xml", {}), (CREATE, {"Accept": "application/xml"})):
        status, reply_headers, xml = call("POST", path, body, {"Content-Type": "application/json", **headers})
        assert status == 422 and reply_headers["content-type"].startswith("application/xml")
        fields = ET.fromstring(xml).find("errors")
        assert fields is not None
        named = [field.get("name") for field in fields.iter("field")] + [child.tag for child in fields]
        assert (name if name != "\x00" else "\ufffd") in named


def test_the_openapi_document_and_health_in_xml(call: Call) -> None:
    for path in ("/api/v1/openapi.xml", "/api/v1/health.xml"):
        status, headers, xml = call("GET", path, headers={"Authorization": ""})
        assert status == 200 and headers["content-type"].startswith("application/xml")
        ET.fromstring(xml)


# ---- query strings, path parameters, headers -----------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "to=9999-12-31T23:59:59-14:00",  # OverflowError in astimezone: was a 502
        "batch=9999-12-31T23:59:59-14:00",
        "from=9999-12-31T23:59:59-14:00&to=9999-12-31",
    ],
)
def test_dates_out_of_range_are_a_422(call: Call, query: str) -> None:
    path = "/api/v1/assets" if query.startswith("batch") else "/api/v1/downloads"
    error = error_of(call("GET", f"{path}?{query}"), 422)
    assert error["errors"] == {"request": ["a date or number is out of the supported range (years 1 to 9999)"]}


@pytest.mark.parametrize(
    "query",
    [
        "a=%ZZ&=x&&&",
        "page=1&page=2;skip=3",
        "cursor=" + "A" * 5000,
        "cursor=%F0%9F%98%80.%F0",
        "page=" + "9" * 5000,
        "skip=" + "9" * 30,
        "page_size=0x10",
        "complete=%00",
        "from=2026-02-30",
        "user=" + "u" * 500,
        "tag=%00&media_type=%00&batch=9999-12-31T23:59:59-14:00",
    ],
)
def test_odd_query_strings_are_answered(call: Call, query: str) -> None:
    for path in (
        "/api/v1/downloads",
        "/api/v1/assets",
        "/api/v1/account/users",
        "/api/v1/assets/demo-readme/downloads",
    ):
        status, _, body = call("GET", f"{path}?{query}")
        assert status in (200, 400, 422), body
        assert status == 200 or set(json.loads(body)) == {"message", "errors"}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/downloads/" + "x" * (MAX_PATH_PARAMETER_BYTES + 1), 404),
        ("/api/v1/downloads/" + "x" * 3000 + "/targets", 404),
        ("/api/v1/downloads/abc/targets/" + "%E2%82%AC" * 200, 404),
        ("/api/v1/account/users/" + "u" * 3000, 404),
        ("/api/v1/assets/uploads/" + "u" * 3000, 404),
        ("/api/v1/assets/" + "k" * 3000, 410),  # an unknown asset key is gone
        ("/api/v1/assets/" + "k" * 3000 + "/downloads", 410),
        ("/api/v1/downloads/%00", 404),
        ("/api/v1/assets/%F0%9F%98%80", 410),
        ("/api/v1/downloads/a.json.xml", 404),
    ],
)
def test_path_parameters_too_long_or_odd_name_nothing(call: Call, path: str, status: int) -> None:
    got, _, body = call("GET", path)
    assert got == status, body


def test_a_too_long_id_is_refused_for_every_method(call: Call) -> None:
    long_key = "k" * 3000
    error_of(call("DELETE", f"/api/v1/assets/{long_key}"), 410)
    error_of(call("DELETE", f"/api/v1/downloads/{long_key}"), 404)
    error_of(call("DELETE", f"/api/v1/account/tokens/{long_key}"), 404)
    replace = '{"filename": "a.txt", "translations": [], "note": null, "mature": false}'
    error_of(call("PUT", f"/api/v1/assets/{long_key}", replace, {"Content-Type": "application/json"}), 410)


@pytest.mark.parametrize(
    "since",
    [
        "garbage",
        "",
        "Mon, 99 Xyz 99999 99:99:99 GMT",
        "Tue, 01 Jan 0001 00:00:00 +1400",
        "Thu, 01 Jan 1970 00:00:00 +9999",
    ],
)
def test_an_unreadable_if_modified_since_is_ignored(call: Call, since: str) -> None:
    assert call("GET", "/api/v1/assets/demo-readme", headers={"If-Modified-Since": since})[0] == 200


@pytest.mark.parametrize("accept", ["*/*", "", ",,,", "application/xml;q=abc", "text/html", "x" * 5000])
def test_any_accept_header_gets_json_or_xml(call: Call, accept: str) -> None:
    for path in ("/api/v1/downloads", "/api/v1/assets/demo-readme", "/api/v1/openapi.json", "/api/v1/downloads/x/file"):
        status, headers, _ = call("GET", path, headers={"Accept": accept})
        assert status in (200, 404) and headers["content-type"].split(";")[0] in ("application/json", "application/xml")


@pytest.mark.parametrize("key", ["x" * 256, " ", "é"])
def test_an_odd_idempotency_key_is_answered(call: Call, key: str) -> None:
    status, _, _ = call("POST", CREATE, VALID, {"Content-Type": "application/json", "Idempotency-Key": key})
    assert status in (201, 422)


# ---- CORS on what the screen refuses ------------------------------------------------------


def test_a_refused_request_carries_cors_headers(carton: Carton, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.ENV_CORS_ORIGINS, "https://app.example")
    config.settings.cache_clear()
    event = load_event("api/create_download")
    event["headers"]["Origin"] = "https://app.example"
    event["multiValueHeaders"]["Origin"] = ["https://app.example"]
    event["body"] = "[" * 1000 + "]" * 1000
    status, headers, body = carton.api("create_download", event)
    assert status == 400 and set(body) == {"message", "errors"}
    assert headers["access-control-allow-origin"] == "https://app.example" and headers["vary"] == "Origin"


# ---- the screen itself -----------------------------------------------------------------


def _event(body: str | None, content_type: str | None = "application/json", **extra: Any) -> dict[str, Any]:
    headers = {} if content_type is None else {"Content-Type": content_type}
    return {"httpMethod": "POST", "headers": headers, "multiValueHeaders": {}, "body": body, **extra}


def test_a_base64_body_is_decoded_and_must_be_utf8() -> None:
    encoded = base64.b64encode(VALID.encode()).decode()
    assert screen(_event(encoded, isBase64Encoded=True))["body"] == encoded
    for bad in ("not base64!", base64.b64encode(b'{"a": "\xff"}').decode()):
        with pytest.raises(BadRequest):
            screen(_event(bad, isBase64Encoded=True))


def test_the_media_type_is_normalised_for_powertools() -> None:
    event = _event(VALID, "Application/JSON")
    event["multiValueHeaders"] = {"Content-Type": ["Application/JSON"]}
    screened = screen(event)
    assert screened["headers"]["Content-Type"] == "application/json"
    assert screened["multiValueHeaders"]["Content-Type"] == ["application/json"]
    assert event["headers"]["Content-Type"] == "Application/JSON"  # the caller's event is left alone


def test_reads_are_not_screened_for_bodies() -> None:
    event = {"httpMethod": "GET", "headers": {"Content-Type": "text/plain"}, "body": "[" * 1000}
    assert screen(event) is event
    with pytest.raises(NotFound):
        screen({**event, "pathParameters": {"download_id": "x" * (MAX_PATH_PARAMETER_BYTES + 1)}})
    with pytest.raises(UnsupportedMediaType):
        screen(_event("", "multipart/form-data"))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(alphabet=st.sampled_from('[]{}"\\,:01 a\n'), max_size=400))
def test_the_depth_scan_agrees_with_the_parser(text: str) -> None:
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return
    assert json_too_deep(text) == (_depth(parsed) > MAX_JSON_DEPTH)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    return 0


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(max_size=300))
def test_any_text_parses_or_is_a_bad_request(text: str) -> None:
    refused: CartonError | None = None
    try:
        parse_json_body(text)
    except CartonError as error:
        refused = error
    assert refused is None or (refused.status == 400 and list(refused.errors) == ["body"])


def test_a_long_unterminated_string_is_scanned_in_linear_time() -> None:
    text = '{"a": "' + '\\"[' * 300_000  # quotes escaped all the way: one string that never ends
    assert json_too_deep(text) is False
    with pytest.raises(BadRequest):
        parse_json_body(text)
