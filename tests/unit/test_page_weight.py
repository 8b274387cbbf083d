"""A list page stops before its items could render past its byte budget: the weight of a
stored item bounds its rendering as XML and as JSON inside Lambda's response."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import example, given, settings
from hypothesis import strategies as st

from carton.downloads.api import DownloadOut
from carton.downloads.items import download_item
from carton.downloads.models import Download, DownloadError
from carton.storage.listing import PAGE_BYTES, RENDERED_OVERHEAD, rendered_weight
from carton.storage.table import record_of
from carton.web.formats import to_xml
from carton.web.routes import MAX_RESPONSE_BYTES

BASE = "https://abcdef1234.execute-api.eu-central-1.amazonaws.com/prod"

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=255)
ids = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=64)


@st.composite
def downloads(draw: st.DrawFn) -> Download:
    return Download(
        account_id=draw(ids),
        download_id=draw(ids),
        created_by=draw(ids),
        created_by_email=draw(st.emails()),
        name=draw(names),
        download_type=draw(ids),
        zip_filename=draw(names),
        layout=draw(st.sampled_from(["flat", "folders"])),
        asset_ids=draw(st.lists(ids, min_size=1, max_size=200)),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        error=draw(st.none() | st.builds(DownloadError, code=ids, message=names)),
    )


def renderings(item: dict[str, object]) -> tuple[int, int]:
    """(XML, JSON escaped once more as Lambda's response carries it) sizes in bytes."""
    rendered = DownloadOut.of(record_of(Download, item), BASE).model_dump(mode="json")
    xml = to_xml({"results": [rendered]}).encode()
    body = json.dumps({"results": [rendered]}, default=str)
    return len(xml), len(json.dumps({"body": body}).encode())


def worst(name: str) -> Download:
    """Names at their longest, in characters each representation spells out longest."""
    return Download(
        account_id="a",
        download_id="d",
        created_by="u",
        created_by_email="x@y.example",
        name=name,
        download_type="t",
        zip_filename=name,
        layout="flat",
        asset_ids=["a"],
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        error=DownloadError(code="c", message=name),
    )


@settings(max_examples=200, deadline=None)
@given(downloads())
@example(worst("é" * 255))  # 2 bytes of UTF-8, \\u00e9 (7 bytes) in Lambda's response
@example(worst("😀" * 255))  # a surrogate pair in JSON
@example(worst('"' * 255))  # \\\" in Lambda's response
@example(worst("&" * 255))  # &amp; in XML
def test_a_stored_item_weighs_at_least_what_it_renders_to(download: Download) -> None:
    item = download_item(download)
    assert rendered_weight(item) + RENDERED_OVERHEAD >= max(renderings(item))


def test_a_full_page_fits_in_a_lambda_response() -> None:
    assert PAGE_BYTES + 64 * 1024 < MAX_RESPONSE_BYTES  # the envelope and headers fit beside the items
