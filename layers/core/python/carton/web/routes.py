"""The route table: the single source for the CDK REST API and the local gateway.

Each route names the function (a folder under `functions/`) that serves it; a
function may serve several routes that mean the same thing (`/download`, `/file`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from carton.web.formats import SUFFIXES

API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway resource path with {placeholders}
    function: str
    authorized: bool = True
    # Served by the local stack only (developer conveniences), never deployed.
    local_only: bool = False
    # Deployed only with this deploy-time switch on (infra/settings.py); always served locally.
    deployed_with: str | None = None

    @property
    def resource_paths(self) -> tuple[str, ...]:
        """API Gateway resources serving this route: a static last segment also gets
        `.json`/`.xml` variants; after a {parameter} the suffix arrives in its value."""
        if self.path.endswith("}"):
            return (self.path,)
        return (self.path, *(self.path + suffix for suffix in SUFFIXES))

    @property
    def resolver_path(self) -> str:
        """The same path in Powertools' `<param>` syntax."""
        return re.sub(r"\{(\w+)\}", r"<\1>", self.path)


_DOWNLOAD = f"{API_PREFIX}/downloads/{{download_id}}"

ROUTES: tuple[Route, ...] = (
    Route("GET", f"{API_PREFIX}/health", "health", authorized=False),
    Route("GET", f"{API_PREFIX}/openapi", "openapi", authorized=False),
    Route("GET", f"{API_PREFIX}/downloads", "list_downloads"),
    Route("POST", f"{API_PREFIX}/downloads", "create_download"),
    Route("GET", _DOWNLOAD, "get_download"),
    Route("DELETE", _DOWNLOAD, "delete_download"),
    Route("GET", f"{_DOWNLOAD}/download", "download_file"),
    Route("GET", f"{_DOWNLOAD}/file", "download_file"),
    Route("GET", f"{_DOWNLOAD}/targets", "list_targets"),
    Route("GET", f"{_DOWNLOAD}/targets/{{asset_id}}", "get_target"),
    Route("POST", f"{_DOWNLOAD}/links", "create_link"),
    Route("GET", f"{_DOWNLOAD}/links", "list_links"),
    Route("DELETE", f"{_DOWNLOAD}/links/{{link_id}}", "delete_link"),
    # A share link: anyone who has it, no key.
    Route("GET", f"{API_PREFIX}/shared/{{token}}", "open_shared_link", authorized=False),
    Route("GET", f"{API_PREFIX}/assets", "list_assets"),
    Route("POST", f"{API_PREFIX}/assets", "import_asset"),
    Route("POST", f"{API_PREFIX}/assets/uploads", "create_upload"),
    Route("GET", f"{API_PREFIX}/assets/uploads/{{upload_id}}", "get_upload"),
    Route("POST", f"{API_PREFIX}/assets/uploads/{{upload_id}}/parts", "sign_upload_parts"),
    Route("POST", f"{API_PREFIX}/assets/uploads/{{upload_id}}/complete", "complete_upload"),
    Route("GET", f"{API_PREFIX}/assets/{{key}}", "get_asset"),
    Route("PUT", f"{API_PREFIX}/assets/{{key}}", "replace_asset"),
    Route("DELETE", f"{API_PREFIX}/assets/{{key}}", "delete_asset"),
    Route("GET", f"{API_PREFIX}/assets/{{key}}/downloads", "asset_downloads"),
    Route("GET", f"{API_PREFIX}/account", "get_account"),
    Route("PUT", f"{API_PREFIX}/account", "replace_account"),
    Route("GET", f"{API_PREFIX}/account/users", "list_users"),
    Route("POST", f"{API_PREFIX}/account/users", "create_user"),
    Route("GET", f"{API_PREFIX}/account/users/{{user_id}}", "get_user"),
    Route("POST", f"{API_PREFIX}/account/tokens", "create_token"),
    Route("DELETE", f"{API_PREFIX}/account/tokens/{{token_id}}", "delete_token"),
    Route("GET", f"{API_PREFIX}/_local/outbox", "local_outbox", local_only=True),
    Route("GET", f"{API_PREFIX}/docs", "docs", authorized=False, deployed_with="docs"),
)
# The API itself (what the OpenAPI document describes): deployed always.
DEPLOYED_ROUTES: tuple[Route, ...] = tuple(
    route for route in ROUTES if not route.local_only and route.deployed_with is None
)


def deployed_routes(switches: frozenset[str] = frozenset()) -> tuple[Route, ...]:
    """What a stack deploys: the API, and the routes whose switch is on."""
    return tuple(
        route
        for route in ROUTES
        if not route.local_only and (route.deployed_with is None or route.deployed_with in switches)
    )


# CORS: what a browser on an allowed origin may send and read, and how long it may keep a
# preflight's answer. API Gateway's preflights, the functions and the local gateway all use these.
CORS_ALLOW_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "If-None-Match", "If-Modified-Since")
CORS_EXPOSE_HEADERS = ("Location", "ETag", "Last-Modified")
CORS_MAX_AGE_SECONDS = 600


def methods_of(path: str, routes: tuple[Route, ...] = ROUTES) -> tuple[str, ...]:
    """The methods a resource path answers (what a 405's Allow header lists)."""
    return tuple(sorted({route.method for route in routes if path in route.resource_paths}))


def routes_of(function: str) -> tuple[Route, ...]:
    found = tuple(route for route in ROUTES if route.function == function)
    if not found:
        raise KeyError(f"no route is served by function {function!r}")
    return found


def url_for(function: str, base: str = "", *, ending: str = "", **params: str) -> str:
    """The URL of what `function` serves (its GET route if it has one; of its routes, the
    one whose path ends with `ending`), with `params` in its {placeholders}, after `base`
    (scheme://host[/stage]): every link Carton hands out."""
    routes = sorted(
        (route for route in routes_of(function) if route.path.endswith(ending)),
        key=lambda route: route.method != "GET",
    )
    path = routes[0].path
    for name, value in params.items():
        path = path.replace(f"{{{name}}}", quote(str(value), safe=""))
    if "{" in path:
        raise KeyError(f"{function}: no value for {path}")
    return f"{base}{path}"


def http_functions(routes: tuple[Route, ...] = ROUTES) -> tuple[str, ...]:
    """Every function that serves one of `routes`, each once, in table order."""
    return tuple(dict.fromkeys(route.function for route in routes))


# API Gateway itself answers these before any function runs; the CDK API and the
# local gateway both render them in the one error body.
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit (REST API)
# Lambda's limits for a synchronous invoke, which a proxy integration meets first. The request
# is the whole event as JSON (body, headers, query and context; a binary body base64-encoded,
# a third larger): "Request must be smaller than 6291456 bytes for the InvokeFunction
# operation". The response is the function's result as JSON: "Response payload size exceeded
# maximum allowed payload size (6291556 bytes)", which API Gateway answers with a 502.
MAX_EVENT_BYTES = 6 * 1024 * 1024
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100
_MB = 1024 * 1024
UPLOAD_ROUTE = f"POST {API_PREFIX}/assets/uploads"  # where files too large for a request go


def event_bytes(event: object) -> int:
    """The size of an API Gateway proxy event as Lambda counts it: its JSON invoke payload."""
    return len(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode())


def response_bytes(response: object) -> int:
    """The size of a function's result as the Python runtime serializes it for Lambda."""
    return len(json.dumps(response).encode())


@dataclass(frozen=True)
class GatewayAnswer:
    status: int
    message: str
    errors: dict[str, list[str]]

    def body(self) -> dict[str, object]:
        return {"message": self.message, "errors": self.errors}


GATEWAY_ANSWERS: dict[str, GatewayAnswer] = {
    "UNAUTHORIZED": GatewayAnswer(
        401,
        "Authentication required",
        {"authorization": ["send 'Authorization: Token <key>' or 'Bearer <key>' with a valid key"]},
    ),
    "ACCESS_DENIED": GatewayAnswer(403, "Forbidden", {"authorization": ["this key may not call this route"]}),
    # What API Gateway says for a path no resource matches.
    "MISSING_AUTHENTICATION_TOKEN": GatewayAnswer(404, "Not found", {"path": ["no such resource"]}),
    "METHOD_NOT_ALLOWED": GatewayAnswer(405, "Method not allowed", {"method": ["not supported on this path"]}),
    # Over 10 MB API Gateway refuses the request itself; over 6 MB of event Lambda refuses the
    # invoke, which API Gateway answers with a 413 as well. The lower limit is the one to state.
    "REQUEST_TOO_LARGE": GatewayAnswer(
        413,
        "Request too large",
        {"body": [f"at most {MAX_EVENT_BYTES // _MB} MB per request; upload larger files with {UPLOAD_ROUTE}"]},
    ),
}

# A function's result over Lambda's response limit: the function answers this instead (on AWS
# the invoke would fail and API Gateway answer 502), and the local gateway refuses the same.
RESPONSE_TOO_LARGE = GatewayAnswer(
    413,
    "Response too large",
    {"response": [f"at most {MAX_RESPONSE_BYTES // _MB} MB per response; ask for less, e.g. a smaller page_size"]},
)


def bounded_response(response: dict[str, Any]) -> dict[str, Any]:
    """A function's proxy result, or RESPONSE_TOO_LARGE in its place when Lambda would refuse
    to return it (its CORS headers kept, so that a browser can read why)."""
    if response_bytes(response) <= MAX_RESPONSE_BYTES:
        return response

    def kept(name: str) -> bool:
        return name.lower().startswith("access-control-") or name.lower() == "vary"

    headers = {name: value for name, value in (response.get("headers") or {}).items() if kept(name)}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        if kept(name):
            headers[name] = ", ".join(values)
    return {
        "statusCode": RESPONSE_TOO_LARGE.status,
        "headers": {**headers, "Content-Type": "application/json"},
        "body": json.dumps(RESPONSE_TOO_LARGE.body()),
        "isBase64Encoded": False,
    }
