"""Every S3 key Carton writes, built and read back in one place (the prefixes are in
carton.storage.schema, which infra reads too). File names in keys are safe entry names
with no further folders."""

from __future__ import annotations

from carton.shared.names import safe_entry_name
from carton.storage.schema import ARCHIVES_PREFIX, ASSETS_PREFIX, DERIVED_PREFIX, PLANS_PREFIX, UPLOADS_PREFIX


def _file_part(filename: str) -> str:
    return safe_entry_name(filename).replace("/", "_")


def asset_object_key(account_id: str, asset_id: str, filename: str) -> str:
    """Where an asset's bytes live (assets bucket)."""
    return f"{ASSETS_PREFIX}{account_id}/{asset_id}/{_file_part(filename)}"


def derived_object_key(account_id: str, asset_id: str, spec_id: str, extension: str) -> str:
    """Where a rendition or conversion of an asset lives (assets bucket)."""
    return f"{DERIVED_PREFIX}{account_id}/{asset_id}/{spec_id}{extension}"


def upload_object_key(account_id: str, upload_id: str, filename: str) -> str:
    """Where a client's upload lands (assets bucket) before it is ingested."""
    return f"{UPLOADS_PREFIX}{account_id}/{upload_id}/{_file_part(filename)}"


def upload_of(key: str) -> tuple[str, str] | None:
    """(account id, upload id) of an upload's key; None for any other key."""
    parts = key.removeprefix(UPLOADS_PREFIX).split("/", 2)
    if not key.startswith(UPLOADS_PREFIX) or len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1]


def plan_key(account_id: str, download_id: str) -> str:
    """Where a download's archive plan lives (archives bucket) while it is packaged."""
    return f"{PLANS_PREFIX}{account_id}/{download_id}.json"


def archive_prefix(account_id: str, download_id: str) -> str:
    """Every key a download's archive (and its unfinished uploads) may have starts with this."""
    return f"{ARCHIVES_PREFIX}{account_id}/{download_id}/"


def archive_key(account_id: str, download_id: str, filename: str) -> str:
    return archive_prefix(account_id, download_id) + filename


def download_of(archive_key: str) -> tuple[str, str] | None:
    """(account id, download id) of an archive's key; None for any other key."""
    parts = archive_key.removeprefix(ARCHIVES_PREFIX).split("/", 2)
    if not archive_key.startswith(ARCHIVES_PREFIX) or len(parts) < 3:
        return None
    return parts[0], parts[1]
