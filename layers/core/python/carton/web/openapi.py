"""The OpenAPI 3.1 document, generated from the API functions themselves.

Every API function registers its route (from the route table) on a Powertools
resolver with pydantic models; this module loads those functions and merges what
their resolvers describe, then states what Powertools cannot know: the 4xx answers
each route really gives (in the one error body), the gateway's answers (401, 413),
responses without a body (204, 302, 304), Location headers, the query parameters the
list functions read themselves, and which routes need no key. The deployed `openapi`
function serves a copy built at bundling time (`python -m carton.web.openapi FUNCTIONS_DIR
OUT`), the local one builds it on demand.

The fuzz test (tests/e2e/test_fuzz.py) holds the API to this document.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from carton.downloads.models import DownloadState
from carton.shared.media import MEDIA_GROUPS
from carton.web.paging import MAX_PAGE_SIZE
from carton.web.requests import MAX_JSON_DEPTH, MAX_PATH_PARAMETER_BYTES
from carton.web.routes import API_PREFIX, DEPLOYED_ROUTES, MAX_EVENT_BYTES, Route, http_functions
from carton.web.shapes import ErrorBody

TITLE = "Carton"
VERSION = "1.0.0"
OPENAPI_VERSION = "3.1.0"  # the schemas are pydantic's JSON Schema (2020-12: "type": "null")
_MB = 1024 * 1024

ERROR_DESCRIPTIONS = {
    400: f"Malformed request: JSON that does not parse or nests over {MAX_JSON_DEPTH} deep, a tampered cursor",
    401: "Missing or invalid key",
    403: "The key may not do this (another user's download, a download type it may not create, admins only)",
    404: "No such resource",
    405: "Method not allowed on this path (the Allow header lists the methods it has)",
    409: "Conflict: an Idempotency-Key reused with another body, a record that exists or changed meanwhile",
    410: "Gone: a deleted or unknown asset key, an expired archive",
    413: f"Request over {MAX_EVENT_BYTES // _MB} MB (larger files: POST {API_PREFIX}/assets/uploads), "
    "or a response that would be (ask for a smaller page)",
    415: "The body is not application/json",
    422: "Validation failed: errors name each field",
}

# The 4xx answers of each function (the gateway's included: 401 without a valid key, 413 for
# a request over Lambda's limit). A function missing here gets the rule of _default_errors.
_PAGED = {400, 413, 422}  # a list: cursor, page too large to return, paging and filters
_WITH_BODY = {400, 413, 415, 422}
ERRORS: dict[str, set[int]] = {
    "health": set(),
    "openapi": set(),
    "list_downloads": {401, 403} | _PAGED,  # 403: a member filtering by another user
    "create_download": {401, 403, 409} | _WITH_BODY,  # 403: a download type the key may not create
    "get_download": {401, 403, 404},
    "delete_download": {401, 403, 404, 409},
    "download_file": {401, 403, 404, 410},  # 404 until complete, 410 once expired
    "list_targets": {401, 403, 404} | _PAGED,
    "get_target": {401, 403, 404},
    "list_assets": {401} | _PAGED,
    "import_asset": {401, 409} | _WITH_BODY,
    "create_upload": {401} | _WITH_BODY,
    "get_upload": {401, 404},
    "get_asset": {401, 410},
    "replace_asset": {401, 410} | _WITH_BODY,
    "delete_asset": {401, 410},
    "asset_downloads": {401, 403, 410} | _PAGED,
    "get_account": {401},
    "replace_account": {401, 403} | _WITH_BODY,  # 403: admins only
    "list_users": {401} | _PAGED,
    "create_user": {401, 403, 409} | _WITH_BODY,  # 403: admins only; 409: the e-mail is taken
    "get_user": {401, 403, 404},
    "create_token": {401, 403, 404} | _WITH_BODY,  # 404: no such user_id
    "delete_token": {401, 403, 404},
}

# Success answers with no body, and what 201s and 302s point at.
_BODILESS = {"204", "302", "304"}
_LOCATION = {
    "description": "The resource's absolute URL (302: where to fetch it)",
    "schema": {"type": "string", "format": "uri"},
}
_POWERTOOLS_DEFAULT = "Successful Response"
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _header(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "schema": schema, "description": description}


_SIZE = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}
_PAGING = [
    _query("page", {"type": "integer", "minimum": 1}, "page number (with page_size); not with skip or cursor"),
    _query("page_size", _SIZE, "items per page (default 25)"),
    _query("per_page", _SIZE, "alias of page_size"),
    _query("skip", {"type": "integer", "minimum": 0}, "items to skip (with limit); not with page or cursor"),
    _query("limit", _SIZE, "items per page"),
    _query("cursor", {"type": "string"}, "from a next or previous link; not with page or skip"),
]
_MOMENT = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}
_DOWNLOAD_FILTERS = [
    _query("complete", {"type": "boolean"}, "complete downloads only (true) or unfinished ones (false)"),
    _query("state", {"type": "string", "enum": [state.value for state in DownloadState]}, "in this state"),
    _query(
        "uid",
        {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_-]+$"},
        "containing this asset",
    ),
    _query("download_type", {"type": "string", "minLength": 1, "maxLength": 64}, "of this type"),
    _query("from", _MOMENT, "created at or after (a date: from its start), UTC"),
    _query("to", _MOMENT, "created at or before (a date: to its end), UTC"),
    _query("user", {"type": "string", "minLength": 1, "maxLength": 64}, "created by this user (admins)"),
    _query(
        "ordering",
        {"type": "string", "enum": ["created_at", "-created_at", "complete", "-complete"]},
        "default -created_at",
    ),
]
_ASSET_FILTERS = [
    _query("batch", {"type": "string", "format": "date-time"}, "imported in this batch (exact time)"),
    _query("media_type", {"type": "string", "enum": list(MEDIA_GROUPS)}, "of this kind"),
    _query("tag", {"type": "string"}, "tagged so in any translation"),
]
# What the functions read off the request themselves (query parameters, headers), which the
# resolvers therefore cannot describe.
_CONDITIONAL = [
    _header("If-None-Match", {"type": "string"}, "an ETag from before: 304 while it still matches"),
    _header("If-Modified-Since", {"type": "string"}, "an HTTP date: 304 unless changed since (unreadable: ignored)"),
]
PARAMETERS: dict[str, list[dict[str, Any]]] = {
    "list_downloads": _PAGING + _DOWNLOAD_FILTERS,
    "asset_downloads": _PAGING + [parameter for parameter in _DOWNLOAD_FILTERS if parameter["name"] != "uid"],
    "list_targets": _PAGING,
    "list_assets": _PAGING + _ASSET_FILTERS,
    "list_users": _PAGING,
    "get_download": _CONDITIONAL,
    "get_asset": _CONDITIONAL,
    "create_download": [
        _header(
            "Idempotency-Key",
            {"type": "string", "minLength": 1, "maxLength": 255},
            "the same key and body within a day create one download; another body: 409",
        )
    ],
}

# What people read in Swagger UI: each operation's group, a short summary and a description.
TAGS = [
    {"name": "downloads", "description": "Ask for a bundle of assets, watch it being packaged, fetch the archive"},
    {"name": "assets", "description": "The files downloads are made of: import, upload, describe, remove"},
    {"name": "account", "description": "Your account: its settings, users and API keys"},
    {"name": "meta", "description": "Health and this document (no key needed)"},
]
OPERATIONS: dict[str, tuple[str, str, str]] = {
    "health": ("meta", "Check that the API answers", 'Answers `{"status": "ok"}`; needs no key.'),
    "openapi": ("meta", "This document", "The OpenAPI 3.1 description of the API; needs no key."),
    "list_downloads": (
        "downloads",
        "List downloads",
        "Yours (admins: the account's, or one user's with `user`), newest first, with filters. "
        "Pages carry `next`/`previous` links.",
    ),
    "create_download": (
        "downloads",
        "Create a download",
        "Packaging starts at once: the answer is the download, `pending`; poll it until `complete` "
        "(or `failed`, with an error code and a sentence), or ask for an e-mail or a webhook in `notify`. "
        "Send an `Idempotency-Key` to retry safely.",
    ),
    "get_download": (
        "downloads",
        "Show a download",
        "Its state (`pending` → `packaging` → `complete` | `failed`; `complete` → `expired`), progress in files "
        "and bytes, size, expiry and links. Answers 304 to `If-None-Match` with its ETag.",
    ),
    "delete_download": (
        "downloads",
        "Delete a download",
        "Stops its packaging and removes the archive. A 503 (storage busy) may be retried: the deletion then finishes.",
    ),
    "download_file": (
        "downloads",
        "Fetch the archive",
        "A 302 redirect to a presigned S3 link (15 minutes; ranges allowed, so a fetch can resume). "
        "404 until the download is complete, 410 once it expired.",
    ),
    "list_targets": (
        "downloads",
        "List what a download holds",
        "Every asset of the download: its rendition, its path in the archive, size, CRC-32 and SHA-256, "
        "and whether it was packed or skipped (with the reason).",
    ),
    "get_target": ("downloads", "Show one asset of a download", "Where it is in the archive, and how it got there."),
    "list_assets": ("assets", "List assets", "The account's assets, newest first; filter by batch, media type or tag."),
    "import_asset": (
        "assets",
        "Import an asset",
        "From an https URL (fetched from public addresses only) or base64 (at most 4 MB of file; larger files: "
        "`POST /assets/uploads`). The same bytes again answer 200 with the asset they already are.",
    ),
    "create_upload": (
        "assets",
        "Upload a file (up to 5 GiB)",
        "Answers an upload ticket: POST every `upload_fields` entry, then the file as the part named `file`, "
        "to `upload_url`. S3 refuses a file of another size; once it is stored, the upload is ingested.",
    ),
    "get_upload": (
        "assets",
        "Show an upload",
        "`pending` until the file arrives, then `ingested` (with the asset's key) or `rejected` (with the reason).",
    ),
    "get_asset": ("assets", "Show an asset", "Its file, checksums, dimensions and metadata."),
    "replace_asset": ("assets", "Replace an asset's metadata", "Names, translations, note and flags; not its bytes."),
    "delete_asset": (
        "assets",
        "Delete an asset",
        "From then on its key answers 410; archives built already keep the file, downloads still being packaged "
        "skip it (and say why).",
    ),
    "asset_downloads": ("assets", "List the downloads that hold an asset", "With the same filters as the list."),
    "get_account": ("account", "Show your account", "Its notification settings and today's e-mail count."),
    "replace_account": (
        "account",
        "Change your account's settings",
        "Admins only: the domains notification e-mails may go to besides the account's users.",
    ),
    "list_users": ("account", "List users", "Admins see everyone; members see themselves."),
    "create_user": ("account", "Add a user", "Admins only; an e-mail address belongs to one user of the account."),
    "get_user": ("account", "Show a user", "Admins: anyone of the account; members: themselves."),
    "create_token": (
        "account",
        "Issue an API key",
        "Admins only. The secret is in this answer and nowhere else: keep it. A key may be limited to some "
        "download types, never to more than its issuer may do.",
    ),
    "delete_token": ("account", "Revoke an API key", "Takes effect within a minute (the gateway caches keys)."),
}

# Bodies Powertools cannot type (a function answering a plain dict or a document).
SUCCESS_SCHEMAS: dict[str, dict[str, Any]] = {
    "health": {
        "type": "object",
        "properties": {"status": {"type": "string", "enum": ["ok"]}},
        "required": ["status"],
    },
    "openapi": {"type": "object", "description": "this document", "required": ["openapi", "paths"]},
}


def _load(functions_dir: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"carton_openapi_{name}", functions_dir / name / "handler.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"no function {name} in {functions_dir}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _default_errors(route: Route, operation: dict[str, Any]) -> set[int]:
    """A function not in ERRORS: what any route of its kind may answer."""
    codes = {401, 403} if route.authorized else set()
    if "{" in route.path:
        codes.add(404)
    if "requestBody" in operation:
        codes |= _WITH_BODY
    return codes


def _codes_of(route: Route, operation: dict[str, Any]) -> set[int]:
    return ERRORS[route.function] if route.function in ERRORS else _default_errors(route, operation)


def shadowed(route: Route, routes: tuple[Route, ...] = DEPLOYED_ROUTES) -> dict[str, dict[str, list[Route]]]:
    """Path parameter values that reach another resource: {parameter: {value: routes there}}.

    As on API Gateway, the leftmost static segment wins over a {parameter}: `/assets/{key}`
    with key `uploads` is `/assets/uploads` (POST only: GET answers 405), and
    `/assets/{key}/downloads` with key `uploads` is `/assets/uploads/{upload_id}`.
    """
    mine = route.path.split("/")
    found: dict[str, dict[str, list[Route]]] = {}
    for other in routes:
        theirs = other.path.split("/")
        if other.path == route.path or len(theirs) != len(mine):
            continue
        pairs = list(zip(mine, theirs, strict=True))
        differ = [i for i, (a, b) in enumerate(pairs) if a != b]
        if any(a[:1] != "{" and b[:1] != "{" for a, b in (pairs[i] for i in differ)):
            continue  # two different static segments: never the same path
        first = differ[0]
        if mine[first][:1] == "{" and theirs[first][:1] != "{":  # the leftmost difference decides
            found.setdefault(mine[first].strip("{}"), {}).setdefault(theirs[first], []).append(other)
    return found


def error_codes(route: Route, operation: dict[str, Any]) -> set[int]:
    """What the route answers besides success: its function's 4xx, and for path parameter
    values that reach another resource, what that resource answers (405 without the method)."""
    codes = set(_codes_of(route, operation))
    for values in shadowed(route).values():
        for there in values.values():
            same = [other for other in there if other.method == route.method]
            codes |= _codes_of(same[0], {}) if same else {405}
    return codes


def _success(route: Route, responses: dict[str, Any]) -> None:
    declared = [code for code in responses if code[0] in "23"]
    default = responses.get("200", {}).get("description") == _POWERTOOLS_DEFAULT
    if default and len(declared) > 1:
        responses.pop("200")  # Powertools' default beside the declared success
    for code, response in responses.items():
        if code in _BODILESS:
            response.pop("content", None)
        if code in ("201", "302"):
            response.setdefault("headers", {})["Location"] = _LOCATION
    if route.function in SUCCESS_SCHEMAS and "200" in responses:
        responses["200"]["content"] = {"application/json": {"schema": SUCCESS_SCHEMAS[route.function]}}
        if responses["200"].get("description") == _POWERTOOLS_DEFAULT:
            responses["200"]["description"] = "OK"


def _describe(route: Route, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    for code in [code for code in responses if code[0] == "4"]:
        responses.pop(code)  # Powertools' 422 in its own body: replaced by the errors below
    _success(route, responses)
    for code in sorted(error_codes(route, operation)):
        responses[str(code)] = {"description": ERROR_DESCRIPTIONS[code], "content": _ERROR_CONTENT}
    operation["responses"] = dict(sorted(responses.items()))
    extra = PARAMETERS.get(route.function, [])
    if extra:
        operation["parameters"] = [*operation.get("parameters", []), *extra]
    elsewhere = shadowed(route)
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "path":
            schema = {**parameter.get("schema", {}), "minLength": 1}
            taken = sorted(elsewhere.get(parameter["name"], {}))
            if taken:
                schema["not"] = {"enum": taken}
            parameter["schema"] = schema
            parameter.setdefault(
                "description",
                f"an id, at most {MAX_PATH_PARAMETER_BYTES} bytes (longer ones name nothing)"
                + (f"; {', '.join(taken)} is another resource's path" if taken else ""),
            )
    if not route.authorized:
        operation["security"] = []  # no key needed: not under the document's global requirement
    tag, summary, description = OPERATIONS[route.function]
    operation.update(tags=[tag], summary=summary, description=description)


def build_document(functions_dir: Path) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for name in http_functions(DEPLOYED_ROUTES):
        app = _load(functions_dir, name).app
        document = json.loads(
            app.get_openapi_schema(title=TITLE, version=VERSION).model_dump_json(by_alias=True, exclude_none=True)
        )
        for path, operations in document.get("paths", {}).items():
            paths.setdefault(path, {}).update(operations)
        schemas.update(document.get("components", {}).get("schemas", {}))
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)
    schemas["ErrorBody"] = ErrorBody.model_json_schema()
    for route in DEPLOYED_ROUTES:
        operation = paths.get(route.path, {}).get(route.method.lower())
        if operation is not None:
            _describe(route, operation)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Bulk downloads: assets in, checksummed ZIP archives out. Append .json or .xml to any "
            "path, or send Accept: application/xml, to choose the representation. Every 4xx answers "
            '{"message": ..., "errors": {field: [reasons]}}; a method a path does not have answers 405 '
            "with an Allow header.\n\nTo try requests here: **Authorize** with your API key (the local stack "
            "prints one at start; `make account` makes one on a deployed stack).",
        },
        "tags": TAGS,
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "key": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "Send `Authorization: Token <key>` (or `Bearer <key>`). In Swagger UI's "
                    "Authorize, paste the key alone: the page adds `Token ` for you.",
                }
            },
        },
        "security": [{"key": []}],
    }


def main() -> None:
    functions_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.write_text(json.dumps(build_document(functions_dir), indent=1))


if __name__ == "__main__":
    main()
