"""Responses: the one error body, JSON, redirects, 204, conditional GETs (ETag,
Last-Modified) and list pages; `documented` declares them to the OpenAPI document."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

ItemT = TypeVar("ItemT")


def error_response(status: int, message: str, errors: dict[str, list[str]] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"message": message, "errors": errors or {}}),
    )


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


def cacheable_response(
    app: APIGatewayRestResolver, body: Any, last_modified: datetime, extra: dict[str, str] | None = None
) -> Response[str]:
    """200 with ETag and Last-Modified, or 304 without a body when the client's copy is
    current; `extra` headers on both."""
    payload = json.dumps(body, default=str, sort_keys=True)
    etag = '"' + hashlib.sha256(payload.encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Last-Modified": format_datetime(last_modified.astimezone(UTC), usegmt=True)}
    headers.update(extra or {})
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


def documented(status: int, model: Any, description: str) -> dict[int, OpenAPIResponse]:
    """The success response of a route, for the generated OpenAPI document (model None: no body)."""
    if model is None:
        return {status: {"description": description}}
    return {status: {"description": description, "content": {"application/json": {"model": model}}}}


def page_response(body: dict[str, Any], items: Iterable[ItemT], render: Callable[[ItemT], BaseModel]) -> Response[str]:
    """The list envelope with each item rendered into `results`."""
    body["results"] = [render(item).model_dump(mode="json") for item in items]
    return json_response(200, body)
