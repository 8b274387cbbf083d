"""HTTP plumbing shared by every API function: the resolver and the handler around it,
CORS, the caller's principal and absolute links (requests: web.requests; responses:
web.responses).

Handlers stay thin: parse (Powertools + pydantic) → one call into core → respond.
Every domain error and every validation failure becomes
{"message": ..., "errors": {field: [...]}} with a 4xx status; nothing a client sends
can produce a 5xx. What Powertools' request parsing would choke on (a body in another
content type, JSON nested without end, numbers or strings Python cannot hold, ids longer
than any key DynamoDB takes) is refused by `web.requests.screen` before the resolver sees it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from botocore.exceptions import BotoCoreError, ClientError

from carton.accounts.keys import principal_from_context
from carton.accounts.models import Principal
from carton.shared.config import ENV_CORS_ORIGINS, parse_origins, settings
from carton.shared.errors import CartonError, NotFound, as_transient
from carton.shared.observability import Handler, entrypoint
from carton.web.formats import negotiate, render
from carton.web.requests import header_of, screen, unsupported_media_type
from carton.web.responses import error_response
from carton.web.routes import (
    CORS_ALLOW_HEADERS,
    CORS_EXPOSE_HEADERS,
    CORS_MAX_AGE_SECONDS,
    Route,
    bounded_response,
    routes_of,
)

_DEFAULT_EXECUTE_API_SUFFIX = ".amazonaws.com"


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
    origin = header_of(event, "origin")
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


def query_parameters(app: APIGatewayRestResolver) -> dict[str, str]:
    """Query parameters, the last value winning when one is repeated."""
    multi = app.current_event.multi_value_query_string_parameters or {}
    single = app.current_event.query_string_parameters or {}
    return {**single, **{name: values[-1] for name, values in multi.items() if values}}


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
