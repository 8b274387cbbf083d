"""GET /downloads and /targets: filters, orderings, the three paging styles, cursors."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError

from carton.accounts.keys import principal_from_context
from carton.accounts.models import Principal, Role
from carton.downloads.api import CreateDownloadRequest
from carton.downloads.items import download_item
from carton.downloads.listing import list_downloads
from carton.downloads.models import Download, DownloadState, Target
from carton.downloads.service import create_download
from carton.shared.config import settings
from carton.storage import listing
from carton.storage.counters import counter_names
from tests.integration.conftest import Carton, as_member, load_event

START = datetime(2026, 1, 1, tzinfo=UTC)
STATES = [DownloadState.PENDING, DownloadState.PACKAGING, DownloadState.COMPLETE, DownloadState.FAILED]


def seed(carton: Carton, count: int = 24) -> list[Download]:
    """Downloads a day apart, cycling states, users and types; asset demo-logo in every third."""
    carton.add_member("maria")
    made = []
    for i in range(count):
        download = Download(
            account_id="demo",
            download_id=f"d{i:03d}",
            created_by="maria" if i % 2 else "admin",
            created_by_email="x@demo.local",
            name=f"n{i}",
            zip_filename=f"n{i}.zip",
            layout="flat",
            download_type="preview" if i % 4 == 0 else "archive",
            asset_ids=["demo-logo"] if i % 3 == 0 else ["demo-readme"],
            created_at=START + timedelta(days=i),
        )
        targets = [Target(download_id=download.download_id, asset_id=download.asset_ids[0], position=0)]
        carton.store.create_download(download, targets)
        state = STATES[i % 4]
        if state is not DownloadState.PENDING:
            carton.store.update_download("demo", download.download_id, expect=[DownloadState.PENDING], state=state)
        made.append(download.model_copy(update={"state": state}))
    return made


def get(
    carton: Carton, query: dict[str, str] | None = None, member: str | None = None, url: str | None = None
) -> tuple[int, Any]:
    event = load_event("api/get_download")
    event.update(resource="/api/v1/downloads", path="/api/v1/downloads", pathParameters=None)
    if url:
        query = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()} or None
    if member:
        as_member(event, member)
    status, _, body = carton.api("list_downloads", event)
    return status, body


def ids(body: dict) -> list[str]:
    return [result["id"] for result in body["results"]]


def walk(carton: Carton, query: dict[str, str], member: str | None = None) -> list[str]:
    status, body = get(carton, query, member)
    assert status == 200, body
    seen = ids(body)
    while body["next"]:
        status, body = get(carton, url=body["next"], member=member)
        assert status == 200, body
        seen += ids(body)
    return seen


def expected(made: list[Download], keep: Any = lambda d: True, newest_first: bool = True) -> list[str]:
    chosen = [d for d in made if keep(d)]
    return [d.download_id for d in sorted(chosen, key=lambda d: d.created_at, reverse=newest_first)]


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ({}, lambda d: True),
        ({"complete": "true"}, lambda d: d.state is DownloadState.COMPLETE),
        ({"complete": "false"}, lambda d: d.state is not DownloadState.COMPLETE),
        ({"state": "failed"}, lambda d: d.state is DownloadState.FAILED),
        ({"download_type": "preview"}, lambda d: d.download_type == "preview"),
        ({"uid": "demo-logo"}, lambda d: d.asset_ids == ["demo-logo"]),
        ({"user": "maria"}, lambda d: d.created_by == "maria"),
        (
            {"user": "maria", "state": "packaging"},
            lambda d: d.created_by == "maria" and d.state is DownloadState.PACKAGING,
        ),
        (
            {"download_type": "archive", "complete": "false"},
            lambda d: d.download_type == "archive" and d.state is not DownloadState.COMPLETE,
        ),
        (
            {"from": "2026-01-05", "to": "2026-01-10"},
            lambda d: datetime(2026, 1, 5, tzinfo=UTC) <= d.created_at < datetime(2026, 1, 11, tzinfo=UTC),
        ),
        (
            {"from": "2026-01-05T00:00:00Z", "to": "2026-01-05T00:00:00Z"},
            lambda d: d.created_at == datetime(2026, 1, 5, tzinfo=UTC),
        ),
        ({"state": "complete", "complete": "false"}, lambda d: False),
    ],
)
def test_every_filter_walks_to_exactly_the_matching_downloads_with_the_right_count(
    carton: Carton, query: dict[str, str], keep: Any
) -> None:
    made = seed(carton)
    want = expected(made, keep)
    assert walk(carton, {**query, "limit": "5"}) == want
    _, body = get(carton, {**query, "page_size": "5"})
    assert body["count"] == len(want)


def test_orderings(carton: Carton) -> None:
    made = seed(carton, 12)
    assert walk(carton, {"ordering": "created_at", "limit": "5"}) == expected(made, newest_first=False)
    complete = [d for d in made if d.state is DownloadState.COMPLETE]
    other = [d for d in made if d.state is not DownloadState.COMPLETE]
    ascending = lambda group: [d.download_id for d in sorted(group, key=lambda d: d.created_at)]  # noqa: E731
    assert walk(carton, {"ordering": "complete", "limit": "4"}) == ascending(other) + ascending(complete)
    assert walk(carton, {"ordering": "-complete", "limit": "4"}) == ascending(complete)[::-1] + ascending(other)[::-1]


def test_members_see_their_own_and_may_not_ask_for_others(carton: Carton) -> None:
    made = seed(carton, 10)
    assert walk(carton, {}, member="maria") == expected(made, lambda d: d.created_by == "maria")
    status, body = get(carton, {"user": "admin"}, member="maria")
    assert status == 403 and "user" in body["errors"]


def test_page_skip_and_cursor_styles_agree_and_previous_links_walk_back(carton: Carton) -> None:
    made = seed(carton, 23)
    everything = expected(made)
    _, page3 = get(carton, {"page": "3", "per_page": "5"})
    _, skipped = get(carton, {"skip": "10", "limit": "5"})
    assert ids(page3) == ids(skipped) == everything[10:15]
    _, previous = get(carton, url=page3["previous"])
    assert ids(previous) == everything[5:10]
    _, before = get(carton, url=previous["previous"])
    assert ids(before) == everything[0:5]
    assert before["previous"] is None
    _, again = get(carton, url=before["next"])
    assert ids(again) == everything[5:10]
    _, last = get(carton, {"page": "5", "page_size": "5"})
    assert ids(last) == everything[20:] and last["next"] is None
    assert page3["next"].startswith("https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod/api/v1/downloads?")


def test_walking_reads_one_page_per_page(carton: Carton) -> None:
    seed(carton, 60)
    _, body = get(carton, {"limit": "10"})
    reads = []
    admin = Principal(account_id="demo", user_id="admin", role=Role.ADMIN, token_id="t")
    url = body["next"]
    while url:
        query = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
        envelope, _, page = list_downloads(
            admin, query, carton.store, settings().cursor_key, "https://x/api/v1/downloads"
        )
        reads.append(page.items_read)
        url = envelope["next"]
    assert len(reads) == 5
    assert max(reads) <= 10 + 2 + 1  # the page, two of look-ahead, the counters item


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ({"page": "0"}, 422, "page"),
        ({"page": "-1"}, 422, "page"),
        ({"page_size": "0"}, 422, "page_size"),
        ({"per_page": "1001"}, 422, "per_page"),
        ({"limit": "abc"}, 422, "limit"),
        ({"page": "2", "cursor": "x"}, 422, "cursor"),
        ({"cursor": "garbage"}, 400, "cursor"),
        ({"complete": "maybe"}, 422, "complete"),
        ({"state": "done"}, 422, "state"),
        ({"ordering": "name"}, 422, "ordering"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, 422, "body"),
        ({"from": "yesterday"}, 422, "from"),
    ],
)
def test_bad_list_parameters(carton: Carton, query: dict[str, str], status: int, field: str) -> None:
    got, body = get(carton, query)
    assert got == status, body
    assert set(body) == {"message", "errors"}


def test_a_tampered_or_foreign_cursor_is_rejected(carton: Carton) -> None:
    seed(carton, 8)
    _, body = get(carton, {"limit": "3"})
    cursor = parse_qs(urlsplit(body["next"]).query)["cursor"][0]
    payload, signature = cursor.split(".")
    forged = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + signature
    assert get(carton, {"cursor": forged})[0] == 400
    status, error = get(carton, {"cursor": cursor, "state": "failed"})
    assert status == 400 and "cursor" in error["errors"]


def test_delete_removes_the_download_its_targets_and_counts(carton: Carton) -> None:
    made = seed(carton, 6)
    event = load_event("api/get_download")
    event["httpMethod"] = "DELETE"
    event["pathParameters"] = {"download_id": made[1].download_id}
    event["path"] = f"/api/v1/downloads/{made[1].download_id}"
    assert carton.api("delete_download", as_member(json.loads(json.dumps(event)), "nobody"))[0] == 403
    assert carton.api("delete_download", event)[0] == 204
    assert carton.api("get_download", {**event, "httpMethod": "GET"})[0] == 404
    assert carton.api("delete_download", event)[0] == 404
    assert get(carton, {})[1]["count"] == 5
    assert made[1].download_id not in walk(carton, {})
    assert not carton.store.targets("demo", made[1].download_id)


def test_targets_list_and_detail(carton: Carton) -> None:
    context = load_event("api/create_download")["requestContext"]["authorizer"]
    request = CreateDownloadRequest(asset_ids=["demo-report", "demo-logo", "demo-readme"])
    download = create_download(principal_from_context(context), request, carton.store)
    event = load_event("api/get_download")
    event.update(
        resource="/api/v1/downloads/{download_id}/targets", path=f"/api/v1/downloads/{download.download_id}/targets"
    )
    event["pathParameters"] = {"download_id": download.download_id}
    event["queryStringParameters"] = {"limit": "2"}
    status, _, body = carton.api("list_targets", event)
    assert status == 200, body
    assert body["count"] == 3
    assert [t["asset_id"] for t in body["results"]] == ["demo-logo", "demo-readme"]
    assert body["results"][0]["state"] == "planned"
    event["queryStringParameters"] = {k: v[-1] for k, v in parse_qs(urlsplit(body["next"]).query).items()}
    assert [t["asset_id"] for t in carton.api("list_targets", event)[2]["results"]] == ["demo-report"]
    event["pathParameters"] = {"download_id": download.download_id, "asset_id": "demo-logo"}
    event["path"] += "/demo-logo"
    status, _, target = carton.api("get_target", event)
    assert status == 200 and target["url"].endswith(f"/downloads/{download.download_id}/targets/demo-logo")
    event["pathParameters"]["asset_id"] = "demo-photo"
    event["path"] = event["path"].replace("demo-logo", "demo-photo")
    status, _, error = carton.api("get_target", event)
    assert status == 404
    assert "asset_id" in error["errors"]


def test_detail_answers_304_to_a_current_etag_or_date(carton: Carton) -> None:
    made = seed(carton, 1)
    event = load_event("api/get_download")
    event["pathParameters"] = {"download_id": made[0].download_id}
    event["path"] = f"/api/v1/downloads/{made[0].download_id}"
    status, headers, _ = carton.api("get_download", event)
    assert status == 200 and headers["etag"] and headers["last-modified"]
    event["headers"]["If-None-Match"] = headers["etag"]
    assert carton.api("get_download", event)[:1] == (304,)
    assert carton.api("get_download", event)[2] is None
    del event["headers"]["If-None-Match"]
    event["headers"]["If-Modified-Since"] = headers["last-modified"]
    assert carton.api("get_download", event)[0] == 304
    event["headers"]["If-Modified-Since"] = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert carton.api("get_download", event)[0] == 200


def test_a_page_of_big_items_ends_within_its_byte_budget_and_walks_on(
    carton: Carton, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages are capped by bytes as well as by count: with the budget scaled down (moto
    serialises every list element one by one), 14 downloads of 2,000 asset ids each
    come in several pages, each within the budget as XML (the longest rendering) inside
    Lambda's response, and the next links still walk to every item."""
    monkeypatch.setattr(listing, "PAGE_BYTES", 600_000)
    asset_ids = [f"a{i}" for i in range(2_000)]
    with carton.store.table.batch_writer() as batch:
        for i in range(14):
            download = Download(
                account_id="demo",
                download_id=f"big{i:02d}",
                created_by="admin",
                created_by_email="x@demo.local",
                name=f"big {i}",
                download_type="archive",
                zip_filename=f"big{i}.zip",
                layout="flat",
                asset_ids=asset_ids,
                created_at=START + timedelta(minutes=i),
            )
            batch.put_item(Item=download_item(download))
    seen: list[str] = []
    query: dict[str, str] | None = {"page_size": "1000"}
    pages = 0
    while query is not None:
        event = load_event("api/get_download")
        event.update(resource="/api/v1/downloads.xml", path="/api/v1/downloads.xml", pathParameters=None)
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
        response = carton.invoke("list_downloads", event)
        assert response["statusCode"] == 200
        assert len(json.dumps(response).encode()) <= listing.PAGE_BYTES
        seen += re.findall(r"<id>(big\d\d)</id>", response["body"])
        found = re.search(r"<next>([^<]+)</next>", response["body"])
        pages += 1
        next_url = html.unescape(found.group(1)) if found else None
        query = {k: v[-1] for k, v in parse_qs(urlsplit(next_url).query).items()} if next_url else None
    assert pages > 1
    assert sorted(seen) == [f"big{i:02d}" for i in range(14)]


def test_counters_are_spread_over_shards_and_summed(carton: Carton) -> None:
    """Downloads finishing together touch different counter items (no hot item for
    DynamoDB's transactions to conflict on), and the counts still add up."""
    made = seed(carton, 24)
    shards = [i for i in carton.store.table.scan()["Items"] if i["sk"].startswith("COUNTERS#")]
    assert len(shards) > 1
    assert carton.store.counters("demo")[counter_names() or ""] == len(made)


def test_a_transaction_conflict_is_retried_not_surfaced(carton: Carton, monkeypatch: pytest.MonkeyPatch) -> None:
    real = carton.store.client.transact_write_items
    calls = []

    def conflicting_once(**kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                    "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
                },
                "TransactWriteItems",
            )
        return real(**kwargs)

    monkeypatch.setattr(carton.store.client, "transact_write_items", conflicting_once)
    seed(carton, 1)
    assert len(calls) >= 2 and carton.store.get_download("demo", "d000")
