"""Every key of the table, built in one place: partitions and sort keys of each entity,
list-index keys, counters and the activity index (the schema's names: carton.storage.schema)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from carton.storage.schema import (
    BY_ACCOUNT_INDEX,
    BY_ASSET_INDEX,
    BY_STATE_INDEX,
    BY_TYPE_INDEX,
    BY_USER_INDEX,
    BY_USER_STATE_INDEX,
    Index,
)
from carton.storage.table import PK, SK

if TYPE_CHECKING:
    pass


def account_partition(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def download_key(account_id: str, download_id: str) -> dict[str, str]:
    return {PK: account_partition(account_id), SK: f"DOWNLOAD#{download_id}"}


def asset_key(account_id: str, asset_id: str) -> dict[str, str]:
    return {PK: account_partition(account_id), SK: f"ASSET#{asset_id}"}


TARGET_PREFIX = "TARGET#"
USER_PREFIX = "USER#"


def targets_partition(account_id: str, download_id: str) -> str:
    return f"{account_partition(account_id)}#DOWNLOAD#{download_id}"


def list_sort_key(created_at: datetime, download_id: str) -> str:
    return f"{created_at.strftime('%Y-%m-%dT%H:%M:%SZ')}#{download_id}"


# ---- list index keys and counters: one definition each -----------------------------


def index_partition(index: Index, account_id: str, **parts: str) -> str:
    """The partition value of a list index, e.g. by_user_state(acme, user=u1, state=complete)."""
    names = {
        BY_ACCOUNT_INDEX.name: (),
        BY_USER_INDEX.name: ("user",),
        BY_STATE_INDEX.name: ("state",),
        BY_USER_STATE_INDEX.name: ("user", "state"),
        BY_TYPE_INDEX.name: ("type",),
        BY_ASSET_INDEX.name: ("asset",),
    }[index.name]
    return "#".join([account_partition(account_id), *(f"{name.upper()}#{parts[name]}" for name in names)])


def activity_partition(shard: int) -> str:
    return f"ACTIVE#{shard}"


def assets_partition(index: Index, account_id: str, value: str = "") -> str:
    """Assets share the list indexes with downloads under their own partitions:
    by_account → all assets, by_type → per media type, by_state → per batch."""
    return f"{account_partition(account_id)}#ASSETS" + (f"#{index.name.upper()}#{value}" if value else "")


def batch_text(batch: datetime) -> str:
    """A batch as OrbitKit writes it: ISO 8601 UTC with milliseconds."""
    return batch.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{batch.microsecond // 1000:03d}Z"


LINK_PREFIX = "LINK#"


def share_key(token_hash: str) -> dict[str, str]:
    """A share link, under its token's hash (what opening the link looks up)."""
    return {PK: f"SHARE#{token_hash}", SK: "SHARE"}


def link_ref_key(account_id: str, download_id: str, link_id: str) -> dict[str, str]:
    """A share link's reference in its download's partition (listing, revoking, removing)."""
    return {PK: targets_partition(account_id, download_id), SK: f"{LINK_PREFIX}{link_id}"}


# ---- accounts and assets: one key builder per item kind --------------------------------


def account_key(account_id: str) -> dict[str, str]:
    return {PK: account_partition(account_id), SK: "ACCOUNT"}


def user_key(account_id: str, user_id: str) -> dict[str, str]:
    return {PK: account_partition(account_id), SK: f"{USER_PREFIX}{user_id}"}


def email_key(account_id: str, email: str) -> dict[str, str]:
    """An e-mail address taken in an account (one user each), compared without case."""
    return {PK: account_partition(account_id), SK: f"EMAIL#{email.casefold()}"}


def token_key(token_hash: str) -> dict[str, str]:
    """An API key, under its hash (what the authorizer looks up)."""
    return {PK: f"TOKEN#{token_hash}", SK: "TOKEN"}


def token_ref_key(account_id: str, token_id: str) -> dict[str, str]:
    """An API key's record, by id (what admins list and revoke)."""
    return {PK: account_partition(account_id), SK: f"TOKENREF#{token_id}"}


def mail_day_key(account_id: str, day: str) -> dict[str, str]:
    return {PK: account_partition(account_id), SK: f"MAILDAY#{day}"}


def upload_item_key(account_id: str, upload_id: str) -> dict[str, str]:
    return {PK: account_partition(account_id), SK: f"UPLOAD#{upload_id}"}


def derived_key(account_id: str, asset_id: str, spec_id: str) -> dict[str, str]:
    return {PK: account_partition(account_id), SK: f"DERIVED#{asset_id}#{spec_id}"}


def content_key(account_id: str, sha256: str) -> dict[str, str]:
    """Which asset holds these bytes (one per account: the same bytes are one asset)."""
    return {PK: account_partition(account_id), SK: f"SHA256#{sha256}"}


def tag_partition(account_id: str, tag: str) -> str:
    """The assets carrying a tag (in any translation), by key: what a selection by tag reads."""
    return f"{account_partition(account_id)}#TAG#{tag}"


def names_partition(account_id: str) -> str:
    """The account's assets by file name (case folded): what a selection by name prefix reads."""
    return f"{account_partition(account_id)}#NAMES"


# DynamoDB takes sort keys of up to 1,024 bytes; case folding can triple a name's bytes.
NAME_KEY_BYTES = 700


def name_sort_key(filename: str, asset_id: str = "") -> str:
    """A file name as selections by prefix read it: case folded, cut to NAME_KEY_BYTES (on a
    character boundary; the selection checks the whole name on what it reads)."""
    folded = filename.casefold().encode()[:NAME_KEY_BYTES].decode(errors="ignore")
    return f"{folded}#{asset_id}" if asset_id else folded
