"""An archive left S3 (lifecycle expiry or removal): its download is expired."""

from __future__ import annotations

import contextlib

from carton.downloads.models import DownloadState
from carton.shared.errors import Conflict
from carton.storage.objects import download_of
from carton.store import Store


def archive_removed(archive_key: str, store: Store) -> None:
    """An archive left S3 (lifecycle expiry or removal): its download is expired."""
    found = download_of(archive_key)
    if found is None:
        return
    account_id, download_id = found
    with contextlib.suppress(Conflict):  # not complete (deleted, or a replaced archive): nothing to expire
        store.update_download(account_id, download_id, expect=[DownloadState.COMPLETE], state=DownloadState.EXPIRED)
