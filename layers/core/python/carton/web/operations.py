"""What the OpenAPI document says of each operation beyond what its function's resolver
describes: its tag, summary and description, the 4xx it answers (in the one error body),
the query parameters and headers it reads itself, the success bodies of routes without a
model. A new route adds its lines here (carton.web.openapi assembles the document)."""

from __future__ import annotations

from typing import Any

from carton.downloads.models import DownloadState
from carton.shared.media import MEDIA_GROUPS
from carton.web.paging import MAX_PAGE_SIZE
from carton.web.requests import MAX_JSON_DEPTH
from carton.web.routes import API_PREFIX, MAX_EVENT_BYTES

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
WITH_BODY = {400, 413, 415, 422}
ERRORS: dict[str, set[int]] = {
    "health": set(),
    "openapi": set(),
    "list_downloads": {401, 403} | _PAGED,  # 403: a member filtering by another user
    "create_download": {401, 403, 409} | WITH_BODY,  # 403: a download type the key may not create
    "get_download": {401, 403, 404},
    "delete_download": {401, 403, 404, 409},
    "download_file": {401, 403, 404, 410},  # 404 until complete, 410 once expired
    "list_targets": {401, 403, 404} | _PAGED,
    "get_target": {401, 403, 404},
    "create_link": {401, 403, 404, 409, 410} | WITH_BODY,  # 409: not complete yet; 410: expired
    "list_links": {401, 403, 404},
    "delete_link": {401, 403, 404},
    "open_shared_link": {404, 410},  # 410: revoked, expired, or its download deleted
    "list_assets": {401} | _PAGED,
    "import_asset": {401, 409} | WITH_BODY,
    "create_upload": {401} | WITH_BODY,
    "get_upload": {401, 404},
    # 403: another user's upload; 409: not multipart, or settled
    "sign_upload_parts": {401, 403, 404, 409} | WITH_BODY,
    "complete_upload": {401, 403, 404, 409} | WITH_BODY,
    "get_asset": {401, 410},
    "replace_asset": {401, 410} | WITH_BODY,
    "delete_asset": {401, 410},
    "asset_downloads": {401, 403, 410} | _PAGED,
    "get_account": {401},
    "replace_account": {401, 403} | WITH_BODY,  # 403: admins only
    "list_users": {401} | _PAGED,
    "create_user": {401, 403, 409} | WITH_BODY,  # 403: admins only; 409: the e-mail is taken
    "get_user": {401, 403, 404},
    "create_token": {401, 403, 404} | WITH_BODY,  # 404: no such user_id
    "delete_token": {401, 403, 404},
}


# Success answers with no body, and what 201s and 302s point at.
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
    "create_link": (
        "downloads",
        "Share a finished archive",
        "A link that needs no key (`shared_url`, shown in this answer only): it redirects to the archive until "
        "it expires (`expires_in_days`, default 7, never past the archive) or is revoked. Its creator or an admin.",
    ),
    "list_links": ("downloads", "List a download's share links", "Expiry, uses and whether revoked; never the link."),
    "delete_link": ("downloads", "Revoke a share link", "From then on it answers 410."),
    "open_shared_link": (
        "downloads",
        "Open a share link",
        "No key: a 302 redirect to a presigned S3 link of the archive (15 minutes); every use is counted. "
        "410 once the link was revoked or expired, or its download was deleted.",
    ),
    "list_assets": ("assets", "List assets", "The account's assets, newest first; filter by batch, media type or tag."),
    "import_asset": (
        "assets",
        "Import an asset",
        "From an https URL (fetched from public addresses only) or base64 (at most 4 MB of file; larger files: "
        "`POST /assets/uploads`). The same bytes again answer 200 with the asset they already are.",
    ),
    "create_upload": (
        "assets",
        "Upload a file (up to 50 GiB)",
        "Answers an upload ticket. Up to the multipart threshold (100 MiB by default): POST every `upload_fields` "
        "entry, then the file as the part named `file`, to `upload_url`; S3 refuses a file of another size. Over it "
        "(`upload_method` MULTIPART): sign parts at `parts_url`, PUT each `part_size` bytes, then POST their ETags "
        "to `complete_url`. Once the file is stored, the upload is ingested.",
    ),
    "get_upload": (
        "assets",
        "Show an upload",
        "`pending` until the file arrives, then `ingested` (with the asset's key) or `rejected` (with the reason).",
    ),
    "sign_upload_parts": (
        "assets",
        "Sign parts of a multipart upload",
        "Presigned PUTs (15 minutes each) for the part numbers asked for, at most 1,000 at a time: ask as the "
        "upload goes. Keep each answer's ETag header for `complete`.",
    ),
    "complete_upload": (
        "assets",
        "Complete a multipart upload",
        "Every part, in order, with its ETag: S3 assembles the file and Carton ingests it as it does a form upload.",
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
