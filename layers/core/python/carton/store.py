"""The one object handlers hand to the core: every entity's records over the one table."""

from __future__ import annotations

from carton.accounts.repository import AccountRecords
from carton.assets.repository import AssetRecords
from carton.downloads.repository import DownloadRecords
from carton.sharing.repository import LinkRecords


class Store(AccountRecords, AssetRecords, DownloadRecords, LinkRecords):
    """Accounts, assets, downloads and share links in Carton's single DynamoDB table."""
