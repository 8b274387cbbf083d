"""HTTP plumbing shared by every API function: the resolver, the one error body,
the caller's principal and absolute links.

Handlers stay thin: parse (Powertools + pydantic) → one call into core → respond.
Every domain error and every validation failure becomes
{"message": ..., "errors": {field: [...]}} with a 4xx status; nothing a client sends
can produce a 500.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from carton.auth import principal_from_context
from carton.config import ENV_CORS_ORIGINS, parse_origins, settings
from carton.errors import CartonError
from carton.formats import negotiate, render
from carton.models import Principal
from carton.observability import Handler, entrypoint
from carton.routes import (
    CORS_ALLOW_HEADERS,
    CORS_EXPOSE_HEADERS,
    CORS_MAX_AGE_SECONDS,
    Route,
    bounded_response,
    routes_of,
)

_DEFAULT_EXECUTE_API_SUFFIX = ".amazonaws.com"
ItemT = TypeVar("ItemT")


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
        return error_response(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "Unsupported content type",
            {"content-type": ["send application/json or application/x-www-form-urlencoded"]},
        )

    def _domain(error: CartonError) -> Response[str]:
        return error_response(error.status, error.message, error.errors)

    # Registered by call, not as decorators: Powertools' decorator is untyped.
    app.exception_handler(RequestValidationError)(_invalid)
    app.exception_handler(RequestUnsupportedContentType)(_unsupported)
    app.exception_handler(CartonError)(_domain)

    @app.not_found
    def _not_found(error: NotFoundError) -> Response[str]:
        return error_response(HTTPStatus.NOT_FOUND, "Not found", {"path": ["no such resource"]})

    return app


def api_handler(app: APIGatewayRestResolver) -> Handler:
    """The Lambda entry point of an API function: representation negotiated around the resolver."""

    varies_by_origin = bool(cors_origins())

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        stripped, chosen = negotiate(event)
        response = bounded_response(render(app.resolve(stripped, context), chosen))
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
