"""HTTP plumbing shared by every API function: the resolver, the one error body,
the caller's principal and absolute links.

Handlers stay thin: parse (Powertools + pydantic) → one call into core → respond.
Every domain error and every validation failure becomes
{"message": ..., "errors": {field: [...]}} with a 4xx status; nothing a client sends
can produce a 5xx. What Powertools' request parsing would choke on (a body in another
content type, JSON nested without end, numbers or strings Python cannot hold, ids longer
than any key DynamoDB takes) is refused by `screen` before the resolver sees it.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus
from typing import Any, NoReturn, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from carton.accounts.keys import principal_from_context
from carton.models import Principal
from carton.shared.config import ENV_CORS_ORIGINS, parse_origins, settings
from carton.shared.errors import BadRequest, CartonError, NotFound, UnsupportedMediaType, as_transient
from carton.shared.observability import Handler, entrypoint
from carton.web.formats import negotiate, render
from carton.web.routes import (
    CORS_ALLOW_HEADERS,
    CORS_EXPOSE_HEADERS,
    CORS_MAX_AGE_SECONDS,
    Route,
    bounded_response,
    routes_of,
)

_DEFAULT_EXECUTE_API_SUFFIX = ".amazonaws.com"
ItemT = TypeVar("ItemT")

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


def error_response(status: int, message: str, errors: dict[str, list[str]] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"message": message, "errors": errors or {}}),
    )


def _field_name(location: Sequence[Any]) -> str:
    # ("body", "asset_ids", 3) -> "asset_ids.3"; a whole-body error is reported as "body".
    parts = [str(part) for part in location[1:]] if len(location) > 1 else [str(part) for part in location]
    return ".".join(parts) or "body"


def validation_errors(errors: Sequence[Any]) -> dict[str, list[str]]:
    by_field: dict[str, list[str]] = {}
    for error in errors:
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "extra_forbidden":
            message = "unknown field"
        by_field.setdefault(_field_name(error.get("loc", ())), []).append(message)
    return by_field


def cors_origins() -> tuple[str, ...]:
    """CARTON_CORS_ORIGINS, as `settings().cors_origins` reads it. Read directly because
    functions build their resolver on import, where bundling (the OpenAPI document) has no
    table configured for `settings()`."""
    return parse_origins(os.environ.get(ENV_CORS_ORIGINS, ""))


def cors_config(origins: Sequence[str] | None = None) -> CORSConfig | None:
    """Powertools' CORS for `origins` (default: the configured ones); None when there are none.

    Powertools compares the request's `Origin` with each allowed origin exactly (scheme, host
    and port as the browser sends them, no trailing slash); `*` allows any origin.
    """
    allowed = tuple(cors_origins() if origins is None else origins)
    if not allowed:
        return None
    return CORSConfig(
        allow_origin=allowed[0],
        extra_origins=list(allowed[1:]),
        allow_headers=list(CORS_ALLOW_HEADERS),
        expose_headers=list(CORS_EXPOSE_HEADERS),
        max_age=CORS_MAX_AGE_SECONDS,
    )


def _add_vary_origin(response: dict[str, Any]) -> dict[str, Any]:
    """Responses differ by Origin once CORS is on: caches must keep them apart."""
    multi = response.get("multiValueHeaders")
    if isinstance(multi, dict):
        existing = next((key for key in multi if key.lower() == "vary"), None)
        if existing is None:
            multi["Vary"] = ["Origin"]
        elif "origin" not in ",".join(multi[existing]).lower():
            multi[existing] = [*multi[existing], "Origin"]
        return response
    headers = response.setdefault("headers", {})
    existing = next((key for key in headers if key.lower() == "vary"), None)
    if existing is None:
        headers["Vary"] = "Origin"
    elif "origin" not in headers[existing].lower():
        headers[existing] = f"{headers[existing]}, Origin"
    return response


# What a client is told to wait before it sends a request again that met a passing fault.
RETRY_AFTER_SECONDS = 1


def api_resolver() -> APIGatewayRestResolver:
    # With origins configured, every response (errors and 404s included) carries CORS headers
    # when the request's Origin is one of them.
    app = APIGatewayRestResolver(enable_validation=True, cors=cors_config())

    def _invalid(error: RequestValidationError) -> Response[str]:
        problems = error.errors()
        if any(problem.get("type") == "json_invalid" for problem in problems):
            reason = next(p for p in problems if p.get("type") == "json_invalid")
            detail = reason.get("ctx", {}).get("error", "invalid JSON")
            return error_response(HTTPStatus.BAD_REQUEST, "Malformed JSON body", {"body": [str(detail)]})
        return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, "Validation failed", validation_errors(problems))

    def _unsupported(error: RequestUnsupportedContentType) -> Response[str]:
        refused = unsupported_media_type()
        return error_response(refused.status, refused.message, refused.errors)

    def _domain(error: CartonError) -> Response[str]:
        return error_response(error.status, error.message, error.errors)

    def _out_of_range(error: OverflowError) -> Response[str]:
        # Only a client's value gets here: a date whose time zone pushes it past year 1 or
        # 9999, a number beyond what a conversion takes. Its text names Python internals.
        return error_response(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "Validation failed",
            {"request": ["a date or number is out of the supported range (years 1 to 9999)"]},
        )

    def _busy(error: Exception) -> Response[str]:
        # S3 or DynamoDB throttled, cancelled a transaction for a concurrent one, or could not
        # be reached, after the SDK's own retries: the request may simply be sent again.
        if as_transient(error) is None:
            raise error
        response = error_response(
            HTTPStatus.SERVICE_UNAVAILABLE,
            "Carton's storage is busy; send the request again in a moment",
            {"request": [f"retry after {RETRY_AFTER_SECONDS} s"]},
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    # Registered by call, not as decorators: Powertools' decorator is untyped.
    app.exception_handler([ClientError, BotoCoreError])(_busy)
    app.exception_handler(RequestValidationError)(_invalid)
    app.exception_handler(RequestUnsupportedContentType)(_unsupported)
    app.exception_handler(CartonError)(_domain)
    app.exception_handler(OverflowError)(_out_of_range)

    @app.not_found
    def _not_found(error: NotFoundError) -> Response[str]:
        return error_response(HTTPStatus.NOT_FOUND, "Not found", {"path": ["no such resource"]})

    return app


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


def _header(event: dict[str, Any], name: str) -> str | None:
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
    content_type = (_header(event, "content-type") or "").strip()
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


def single_headers(response: dict[str, Any]) -> dict[str, Any]:
    """`response` with each header that has one value in `headers`, only true lists left in
    `multiValueHeaders`. Powertools puts every header in `multiValueHeaders`; converting the
    body to XML rewrites Content-Type in `headers`, and API Gateway lets a multi-value header
    win over the plain one: a stale `application/json` there would mislabel the XML."""
    multi = response.get("multiValueHeaders")
    if not isinstance(multi, dict) or not multi:
        return response
    plain = dict(response.get("headers") or {})
    lists: dict[str, list[str]] = {}
    for name, values in multi.items():
        if isinstance(values, list) and len(values) == 1:
            plain[name] = values[0]
        else:
            lists[name] = values
    flattened = {key: value for key, value in response.items() if key != "multiValueHeaders"}
    flattened["headers"] = plain
    if lists:
        flattened["multiValueHeaders"] = lists
    return flattened


def _refusal(event: dict[str, Any], error: CartonError, cors: CORSConfig | None) -> dict[str, Any]:
    """The proxy response for a request `screen` refused, with CORS headers as Powertools adds them."""
    headers = {"Content-Type": content_types.APPLICATION_JSON}
    origin = _header(event, "origin")
    allowed = cors.allowed_origin(origin) if cors is not None and origin else None
    if cors is not None and allowed is not None:
        headers.update(cors.to_dict(allowed))
    return {
        "statusCode": int(error.status),
        "headers": headers,
        "body": json.dumps({"message": error.message, "errors": error.errors}),
        "isBase64Encoded": False,
    }


def api_handler(app: APIGatewayRestResolver, unknown: type[CartonError] = NotFound) -> Handler:
    """The Lambda entry point of an API function: the request screened, the representation
    negotiated around the resolver. `unknown`: what an id too long to exist answers (Gone
    for asset keys, whose unknown ones are gone)."""

    cors = cors_config()
    varies_by_origin = cors is not None

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        stripped, chosen = negotiate(event)
        try:
            screened = screen(stripped, unknown)
        except CartonError as refused:
            raw = _refusal(stripped, refused, cors)
        else:
            raw = single_headers(app.resolve(screened, context))
        response = bounded_response(render(raw, chosen))
        return _add_vary_origin(response) if varies_by_origin else response

    return entrypoint(handle)


def route_of(function: str, method: str = "GET") -> Route:
    """The route (from the route table) that `function` serves for `method`."""
    return next(route for route in routes_of(function) if route.method == method)


def principal(app: APIGatewayRestResolver) -> Principal:
    context = app.current_event.raw_event.get("requestContext", {}).get("authorizer") or {}
    return principal_from_context(context)


def base_url(app: APIGatewayRestResolver) -> str:
    """Scheme, host and stage that clients reach this API on, for absolute links."""
    configured = settings().public_base_url
    if configured:
        return configured.rstrip("/")
    event = app.current_event
    host = event.headers.get("host") or event.request_context.domain_name or "localhost"
    scheme = event.headers.get("x-forwarded-proto") or "https"
    stage = event.request_context.stage
    # The default execute-api host carries the stage in its path; custom domains do not.
    prefix = f"/{stage}" if host.endswith(_DEFAULT_EXECUTE_API_SUFFIX) and stage else ""
    return f"{scheme}://{host}{prefix}"


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, default=str),
        headers=headers,
    )


def redirect(location: str) -> Response[str]:
    return Response(
        status_code=HTTPStatus.FOUND,
        content_type=content_types.APPLICATION_JSON,
        body="",
        headers={"Location": location, "Cache-Control": "no-store"},
    )


def no_content() -> Response[str]:
    return Response(status_code=HTTPStatus.NO_CONTENT, content_type=None, body="")


def _not_modified_since(header: str | None, last_modified: datetime) -> bool:
    if not header:
        return False
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False  # an unreadable date is ignored, as RFC 9110 says
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return last_modified.replace(microsecond=0) <= since


def cacheable_response(app: APIGatewayRestResolver, body: Any, last_modified: datetime) -> Response[str]:
    """200 with ETag and Last-Modified, or 304 without a body when the client's copy is current."""
    payload = json.dumps(body, default=str, sort_keys=True)
    etag = '"' + hashlib.sha256(payload.encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Last-Modified": format_datetime(last_modified.astimezone(UTC), usegmt=True)}
    if_none_match = app.current_event.headers.get("if-none-match")
    if if_none_match is not None:
        unchanged = if_none_match.strip() == "*" or etag in {tag.strip() for tag in if_none_match.split(",")}
    else:
        unchanged = _not_modified_since(app.current_event.headers.get("if-modified-since"), last_modified)
    if unchanged:
        return Response(status_code=HTTPStatus.NOT_MODIFIED, content_type=None, body="", headers=headers)
    return Response(
        status_code=HTTPStatus.OK, content_type=content_types.APPLICATION_JSON, body=payload, headers=headers
    )


def query_parameters(app: APIGatewayRestResolver) -> dict[str, str]:
    """Query parameters, the last value winning when one is repeated."""
    multi = app.current_event.multi_value_query_string_parameters or {}
    single = app.current_event.query_string_parameters or {}
    return {**single, **{name: values[-1] for name, values in multi.items() if values}}


def documented(status: int, model: Any, description: str) -> dict[int, OpenAPIResponse]:
    """The success response of a route, for the generated OpenAPI document (model None: no body)."""
    if model is None:
        return {status: {"description": description}}
    return {status: {"description": description, "content": {"application/json": {"model": model}}}}


@dataclass(frozen=True)
class ListCall:
    """What every list endpoint reads off its request."""

    principal: Principal
    parameters: dict[str, str]
    cursor_key: bytes
    base: str  # scheme, host and stage, for the results' links
    url: str  # this list's absolute URL, for next/previous


def list_call(app: APIGatewayRestResolver) -> ListCall:
    base = base_url(app)
    return ListCall(principal(app), query_parameters(app), settings().cursor_key, base, base + app.current_event.path)


def page_response(body: dict[str, Any], items: Iterable[ItemT], render: Callable[[ItemT], BaseModel]) -> Response[str]:
    """The list envelope with each item rendered into `results`."""
    body["results"] = [render(item).model_dump(mode="json") for item in items]
    return json_response(200, body)
