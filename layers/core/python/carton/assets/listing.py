"""Listing an account's assets: newest first, by batch, media type or tag."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from carton.accounts.models import Principal
from carton.assets.models import Asset
from carton.shared.errors import ValidationFailed
from carton.shared.media import MEDIA_GROUPS, media_group
from carton.storage.keys import assets_partition, batch_text
from carton.storage.listing import ListPlan, Phase, paged
from carton.storage.schema import BY_ACCOUNT_INDEX, BY_STATE_INDEX, BY_TYPE_INDEX
from carton.storage.table import record_of
from carton.store import Store
from carton.web.paging import fingerprint


def list_assets(
    principal: Principal, parameters: Mapping[str, str], store: Store, cursor_key: bytes, url: str
) -> tuple[dict[str, Any], list[Asset]]:
    """Newest first; filters batch= (exact), media_type=, tag= (in any translation)."""
    errors: dict[str, list[str]] = {}
    account = principal.account_id
    media, batch_text_value, tag = parameters.get("media_type"), None, parameters.get("tag")
    if media is not None and media not in MEDIA_GROUPS:
        errors["media_type"] = [f"one of {', '.join(MEDIA_GROUPS)}"]
    if parameters.get("batch") is not None:
        try:
            batch_text_value = batch_text(datetime.fromisoformat(parameters["batch"].replace("Z", "+00:00")))
        except ValueError:
            errors["batch"] = ["an ISO 8601 time, e.g. 2026-11-23T09:42:16.123Z"]
    if errors:
        raise ValidationFailed("Invalid filters", errors)
    # One filter picks the index; what is left is checked on the items read.
    if batch_text_value is not None:
        stream = (BY_STATE_INDEX, assets_partition(BY_STATE_INDEX, account, batch_text_value))
    elif media is not None:
        stream, media = (BY_TYPE_INDEX, assets_partition(BY_TYPE_INDEX, account, media)), None
    else:
        stream = (BY_ACCOUNT_INDEX, assets_partition(BY_ACCOUNT_INDEX, account))

    def keep(item: dict[str, Any]) -> bool:
        if media is not None and media_group(str(item["content_type"])) != media:
            return False
        return tag is None or any(tag in t.get("tags", []) for t in item.get("translations", []))

    plan = ListPlan(
        phases=(Phase((stream,), keep if (tag is not None or media is not None) else None),), ascending=False
    )
    filters = {k: v for k, v in parameters.items() if k in ("batch", "media_type", "tag")}
    body, page = paged(store, plan, parameters, cursor_key, url, fingerprint(account=account, list="assets", **filters))
    return body, [record_of(Asset, item) for item in page.items]


# ---- presigned uploads --------------------------------------------------------------------
