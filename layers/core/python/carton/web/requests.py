"""Requests as Carton takes them: JSON bodies only (any spelling of the media type, or
what clients send when they forget it), parsed strictly before the resolver sees them,
path ids of bounded size."""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from typing import Any, NoReturn

from carton.shared.errors import BadRequest, CartonError, NotFound, UnsupportedMediaType

# What the API takes in a request body, and how deep a JSON document may nest.
JSON_MEDIA_TYPE = "application/json"


MAX_JSON_DEPTH = 64


# Longer than any id Carton hands out (at most 64 characters), and short enough that a
# DynamoDB key made from it stays under the 1,024 bytes a sort key may hold.
MAX_PATH_PARAMETER_BYTES = 256


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


# One JSON string (to its closing quote, or to the end of an unterminated one: never
# backtracking), or one bracket. Linear in the text, whatever it holds.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)


def unsupported_media_type(sent: str | None = None) -> UnsupportedMediaType:
    got = f"got {sent}; " if sent else ""
    return UnsupportedMediaType(
        "Unsupported content type: send a JSON body with the header Content-Type: application/json",
        {"content-type": [f"{got}send {JSON_MEDIA_TYPE}"]},
    )


def json_too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects nest deeper than `limit` in JSON `text` (brackets inside
    strings do not count), found without parsing it. Text that is not JSON may get either
    answer: parsing it then says what is wrong."""
    if text.count("[") + text.count("{") <= limit:
        return False  # it cannot nest deeper than it opens
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        bracket = token.group()
        if bracket in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif bracket in ("]", "}"):
            depth = max(depth - 1, 0)
    return False


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def parse_json_body(text: str) -> Any:
    """A request body as JSON, or BadRequest saying what is wrong with it: malformed, nested
    deeper than MAX_JSON_DEPTH, NaN or Infinity, an integer Python refuses to convert (over
    4,300 digits) or a string with an unpaired surrogate (not Unicode, so not storable)."""
    if json_too_deep(text):
        raise BadRequest(
            "JSON body nested too deeply", {"body": [f"arrays and objects may nest at most {MAX_JSON_DEPTH} deep"]}
        )
    try:
        document = json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as error:
        raise BadRequest(
            "Malformed JSON body", {"body": [f"{error.msg} (line {error.lineno}, column {error.colno})"]}
        ) from error
    except ValueError as error:  # NaN/Infinity, or an integer too long to convert
        reason = str(error) if "is not a JSON number" in str(error) else "a number too long to read"
        raise BadRequest("Malformed JSON body", {"body": [reason]}) from error
    except RecursionError as error:  # pragma: no cover - json_too_deep refuses such nesting first
        raise BadRequest("JSON body nested too deeply", {"body": ["too deep"]}) from error
    try:
        json.dumps(document, ensure_ascii=False).encode()
    except UnicodeEncodeError as error:
        raise BadRequest(
            "Malformed JSON body", {"body": ["a string holds an unpaired surrogate (\\ud800-\\udfff): not Unicode"]}
        ) from error
    return document


def header_of(event: dict[str, Any], name: str) -> str | None:
    wanted = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == wanted and isinstance(value, str):
            return value
    for key, values in (event.get("multiValueHeaders") or {}).items():
        if key.lower() == wanted and values:
            return str(values[-1])
    return None


def _with_header(event: dict[str, Any], name: str, value: str) -> dict[str, Any]:
    """A copy of `event` whose header `name` (in whatever case it came) is `value`."""
    changed = copy.copy(event)
    single = dict(event.get("headers") or {})
    multi = dict(event.get("multiValueHeaders") or {})
    for key in [key for key in single if key.lower() == name.lower()]:
        single[key] = value
    for key in [key for key in multi if key.lower() == name.lower()]:
        multi[key] = [value]
    if single:
        changed["headers"] = single
    if multi:
        changed["multiValueHeaders"] = multi
    return changed


def screen(event: dict[str, Any], unknown: type[CartonError] = NotFound) -> dict[str, Any]:
    """The event, ready for the resolver, or the CartonError to answer instead.

    - a path parameter over MAX_PATH_PARAMETER_BYTES names nothing (`unknown`: NotFound, or
      Gone where an unknown key is gone), and would overflow a DynamoDB key;
    - a body may only be JSON (415 otherwise: Powertools would try form and multipart
      bodies, and crash on some of them); its media type is matched in any case;
    - the JSON must parse, as `parse_json_body` checks, before Powertools parses it again.
    """
    for name, value in (event.get("pathParameters") or {}).items():
        if isinstance(value, str) and len(value.encode("utf-8", "surrogatepass")) > MAX_PATH_PARAMETER_BYTES:
            raise unknown(
                "No such resource", {name: [f"no such {name}: ids are at most {MAX_PATH_PARAMETER_BYTES} bytes"]}
            )
    if str(event.get("httpMethod") or "").upper() not in _BODY_METHODS:
        return event
    content_type = (header_of(event, "content-type") or "").strip()
    media_type = content_type.split(";", 1)[0].strip().lower()
    body = event.get("body")
    if media_type in _SLIPS and body:
        # curl -d without -H 'Content-Type: application/json' (form-urlencoded), or a browser's
        # fetch of a string (text/plain): read as JSON when it is JSON, else say what to send.
        try:
            parse_json_body(_body_text(event))
        except BadRequest:
            raise unsupported_media_type(media_type) from None
        return _with_header(event, "content-type", JSON_MEDIA_TYPE)
    if content_type and media_type != JSON_MEDIA_TYPE:
        raise unsupported_media_type(media_type or content_type)
    if media_type and not content_type.startswith(JSON_MEDIA_TYPE):
        event = _with_header(event, "content-type", JSON_MEDIA_TYPE)  # Application/JSON is JSON too
    if not body:
        return event
    parse_json_body(_body_text(event))
    return event


# Media types a client sends by default when it forgets the header (curl -d; fetch with a string).
_SLIPS = ("application/x-www-form-urlencoded", "text/plain")


def _body_text(event: dict[str, Any]) -> str:
    text = str(event.get("body") or "")
    if event.get("isBase64Encoded"):
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise BadRequest("Malformed JSON body", {"body": ["not UTF-8 text"]}) from error
    return text
