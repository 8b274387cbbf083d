"""An archive left S3 (lifecycle expiry or removal): its download is expired."""

from __future__ import annotations

import contextlib

from carton.downloads.models import DownloadState
from carton.shared.errors import Conflict
from carton.storage.schema import ARCHIVES_PREFIX
from carton.store import Store


def archive_removed(archive_key: str, store: Store) -> None:
    """An archive left S3 (lifecycle expiry or removal): its download is expired."""
    relative = archive_key.removeprefix(ARCHIVES_PREFIX)
    parts = relative.split("/", 2)
    if not archive_key.startswith(ARCHIVES_PREFIX) or len(parts) < 3:
        return
    account_id, download_id = parts[0], parts[1]
    with contextlib.suppress(Conflict):  # not complete (deleted, or a replaced archive): nothing to expire
        store.update_download(account_id, download_id, expect=[DownloadState.COMPLETE], state=DownloadState.EXPIRED)
