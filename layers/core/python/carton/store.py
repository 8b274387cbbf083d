"""The one object handlers hand to the core: every entity's records over the one table."""

from __future__ import annotations

from carton.accounts.records import AccountRecords
from carton.assets.records import AssetRecords
from carton.downloads.records import DownloadRecords


class Store(AccountRecords, AssetRecords, DownloadRecords):
    """Accounts, assets and downloads in Carton's single DynamoDB table."""
