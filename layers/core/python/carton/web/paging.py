"""Paging: query parameters, opaque tamper-evident cursors and the list envelope.

Pure code, no I/O. Three styles are accepted — `page`+`page_size` (alias `per_page`),
`skip`+`limit`, `cursor`+`limit` — and every `next`/`previous` link carries a cursor,
so walking a list costs one page of reads per page whatever its depth.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from carton.shared.errors import BadRequest, ValidationFailed

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000
PAGING_PARAMETERS = ("page", "page_size", "per_page", "skip", "limit", "cursor")


@dataclass(frozen=True)
class Position:
    """Where a page ends (or, going back, starts): a phase of the list and a sort key."""

    phase: int
    sort_key: str


@dataclass(frozen=True)
class Cursor:
    position: Position
    backwards: bool
    fingerprint: str
    count: int | None = None


@dataclass(frozen=True)
class PageRequest:
    limit: int
    offset: int = 0
    cursor: Cursor | None = None


def _int(
    parameters: Mapping[str, str], name: str, low: int, high: int | None, errors: dict[str, list[str]]
) -> int | None:
    raw = parameters.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        errors.setdefault(name, []).append("must be a whole number")
        return None
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        errors.setdefault(name, []).append(f"must be {bound}")
        return None
    return value


def parse_page_request(parameters: Mapping[str, str], key: bytes, fingerprint: str) -> PageRequest:
    errors: dict[str, list[str]] = {}
    page = _int(parameters, "page", 1, None, errors)
    skip = _int(parameters, "skip", 0, None, errors)
    sizes = {name: _int(parameters, name, 1, MAX_PAGE_SIZE, errors) for name in ("page_size", "per_page", "limit")}
    given = {value for value in sizes.values() if value is not None}
    if len(given) > 1:
        errors.setdefault("limit", []).append("page_size, per_page and limit disagree")
    styles = [name for name in ("page", "skip", "cursor") if parameters.get(name) is not None]
    if len(styles) > 1:
        errors.setdefault(styles[1], []).append(f"cannot be combined with {styles[0]}")
    if errors:
        raise ValidationFailed("Invalid paging parameters", errors)
    limit = given.pop() if given else DEFAULT_PAGE_SIZE
    if parameters.get("cursor") is not None:
        return PageRequest(limit=limit, cursor=decode_cursor(parameters["cursor"], key, fingerprint))
    offset = skip if skip is not None else ((page or 1) - 1) * limit
    return PageRequest(limit=limit, offset=offset)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(cursor: Cursor, key: bytes) -> str:
    body = json.dumps(
        {
            "p": cursor.position.phase,
            "k": cursor.position.sort_key,
            "b": cursor.backwards,
            "f": cursor.fingerprint,
            "c": cursor.count,
        },
        separators=(",", ":"),
    ).encode()
    signature = hmac.new(key, body, hashlib.sha256).digest()[:16]
    return _b64(body) + "." + _b64(signature)


def decode_cursor(text: str, key: bytes, fingerprint: str) -> Cursor:
    invalid = BadRequest("Invalid cursor", {"cursor": ["not a cursor this list handed out; start from the first page"]})
    try:
        body_text, signature_text = text.split(".", 1)
        body, signature = _unb64(body_text), _unb64(signature_text)
    except (ValueError, binascii.Error) as error:
        raise invalid from error
    if not hmac.compare_digest(hmac.new(key, body, hashlib.sha256).digest()[:16], signature):
        raise invalid
    try:
        fields = json.loads(body)
        cursor = Cursor(
            position=Position(phase=int(fields["p"]), sort_key=str(fields["k"])),
            backwards=bool(fields["b"]),
            fingerprint=str(fields["f"]),
            count=None if fields.get("c") is None else int(fields["c"]),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise invalid from error
    if cursor.fingerprint != fingerprint:
        raise BadRequest(
            "Cursor from another query", {"cursor": ["filters or ordering changed; start from the first page"]}
        )
    return cursor


def fingerprint(**query: Any) -> str:
    """Ties a cursor to the filters and ordering it was made for."""
    return hashlib.sha256(json.dumps(query, sort_keys=True, default=str).encode()).hexdigest()[:16]


def link(base: str, parameters: Mapping[str, str], cursor: str, limit: int) -> str:
    kept = {name: value for name, value in parameters.items() if name not in PAGING_PARAMETERS}
    return f"{base}?{urlencode({**kept, 'cursor': cursor, 'limit': limit})}"


def envelope(count: int | None, next_link: str | None, previous_link: str | None, results: list[Any]) -> dict[str, Any]:
    return {"count": count, "next": next_link, "previous": previous_link, "results": results}
