"""Share links: made for a finished download by its creator or an admin, opened with no
key (302 to the archive, each use counted), 410 once revoked, expired or deleted."""

from __future__ import annotations

import re
from datetime import timedelta
from email.utils import parseaddr
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from carton.accounts.keys import principal_from_context
from carton.downloads.api import CreateDownloadRequest
from carton.downloads.service import create_download
from carton.shared import aws, config
from carton.shared.fields import utcnow
from carton.sharing.models import ShareLink
from carton.storage.keys import share_key
from carton_local.stack import LOCAL_MAIL_FROM
from tests.integration.conftest import Carton, api_event, load_event
from tests.integration.test_api import create
from tests.integration.test_workflow import new_download, run_workflow

BASE = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod"


def finished(carton: Carton) -> str:
    download_id = new_download(carton, ["demo-readme", "demo-logo"], name="Shared")
    assert run_workflow(carton, download_id)["state"] == "complete"
    return download_id


def make_link(
    carton: Carton, download_id: str, body: dict[str, Any] | None = None, member: str | None = None
) -> tuple[int, dict[str, str], Any]:
    path = f"/api/v1/downloads/{download_id}/links"
    event = api_event("POST", path, body or {}, parameters={"download_id": download_id}, member=member)
    return carton.api("create_link", event)


def open_link(carton: Carton, shared_url: str) -> tuple[int, dict[str, str], Any]:
    token = shared_url.rsplit("/", 1)[1]
    event = api_event("GET", f"/api/v1/shared/{token}", parameters={"token": token})
    event["requestContext"].pop("authorizer")  # no key: the route has no authorizer
    return carton.api("open_shared_link", event)


def links(carton: Carton, download_id: str) -> list[dict[str, Any]]:
    event = api_event("GET", f"/api/v1/downloads/{download_id}/links", parameters={"download_id": download_id})
    status, _, body = carton.api("list_links", event)
    assert status == 200
    results: list[dict[str, Any]] = body["results"]
    return results


def test_a_link_opens_the_archive_without_a_key_and_counts_each_use(carton: Carton) -> None:
    download_id = finished(carton)
    status, headers, link = make_link(carton, download_id, {"expires_in_days": 3})
    assert status == 201 and headers["cache-control"] == "no-store"
    assert link["shared_url"].startswith(f"{BASE}/api/v1/shared/shr_")
    assert link["url"] == headers["location"] == f"{BASE}/api/v1/downloads/{download_id}/links/{link['id']}"
    download = carton.store.get_download("demo", download_id)
    assert download.expires_at is not None
    assert link["expires_at"] <= download.expires_at.isoformat().replace("+00:00", "Z")
    for _ in range(2):
        status, headers, _ = open_link(carton, link["shared_url"])
        assert status == 302
        location = urlsplit(headers["location"])
        assert unquote(location.path).endswith(f"/{download_id}/Shared.zip")
    (listed,) = links(carton, download_id)
    assert listed["uses"] == 2 and listed["revoked"] is False and listed["shared_url"] is None
    stored = carton.store.links_of("demo", download_id)[0]
    assert link["shared_url"].rsplit("/", 1)[1] not in stored.model_dump_json()  # only its hash is kept


def test_a_revoked_link_is_gone(carton: Carton) -> None:
    download_id = finished(carton)
    _, _, link = make_link(carton, download_id)
    path = f"/api/v1/downloads/{download_id}/links/{link['id']}"
    event = api_event("DELETE", path, parameters={"download_id": download_id, "link_id": link["id"]})
    assert carton.api("delete_link", event)[0] == 204
    assert carton.api("delete_link", event)[0] == 204  # revoking again changes nothing
    status, _, error = open_link(carton, link["shared_url"])
    assert status == 410 and error["message"] == "This link was revoked"
    assert links(carton, download_id)[0]["revoked"] is True


def test_an_expired_link_is_gone(carton: Carton) -> None:
    download_id = finished(carton)
    _, _, link = make_link(carton, download_id)
    stored = carton.store.links_of("demo", download_id)[0]
    carton.store.table.update_item(
        Key=share_key(stored.token_hash),
        UpdateExpression="SET expires_at = :then",
        ExpressionAttributeValues={":then": (utcnow() - timedelta(seconds=1)).isoformat()},
    )
    status, _, error = open_link(carton, link["shared_url"])
    assert status == 410 and error["message"] == "This link has expired" and error["errors"]["token"]


def test_a_deleted_download_takes_its_links_along(carton: Carton) -> None:
    download_id = finished(carton)
    _, _, link = make_link(carton, download_id)
    token_hash = carton.store.links_of("demo", download_id)[0].token_hash
    event = api_event("DELETE", f"/api/v1/downloads/{download_id}", parameters={"download_id": download_id})
    assert carton.api("delete_download", event)[0] == 204
    assert carton.store.link_by_hash(token_hash) is None
    assert open_link(carton, link["shared_url"])[0] == 404


def test_links_are_for_finished_downloads_their_creators_and_admins(carton: Carton) -> None:
    carton.add_member("maria")
    carton.add_member("omar")
    _, _, pending = create(carton, {"asset_ids": ["demo-logo"]}, member="maria")
    status, _, error = make_link(carton, pending["id"], member="maria")
    assert status == 409 and "complete" in error["errors"]["state"][0]
    download_id = finished(carton)  # the admin's
    assert make_link(carton, download_id, member="omar")[0] == 403
    assert make_link(carton, download_id)[0] == 201


@pytest.mark.parametrize(("days", "limit"), [(0, "1"), (31, "30")])
def test_a_link_life_outside_its_range_is_refused(carton: Carton, days: int, limit: str) -> None:
    status, _, error = make_link(carton, finished(carton), {"expires_in_days": days})
    assert status == 422 and limit in " ".join(error["errors"]["expires_in_days"])


@pytest.mark.parametrize("token", ["shr_unknown", "not-a-share-token", "shr_" + "x" * 200])
def test_an_unknown_token_is_not_found(carton: Carton, token: str) -> None:
    status, _, error = open_link(carton, f"{BASE}/api/v1/shared/{token}")
    assert status == 404 and error["errors"] == {"token": ["no such link"]}


def test_a_link_never_outlives_its_archive(carton: Carton) -> None:
    download_id = finished(carton)
    download = carton.store.get_download("demo", download_id)
    soon = utcnow() + timedelta(hours=1)
    carton.store.update_download("demo", download_id, expect=[download.state], expires_at=soon)
    _, _, link = make_link(carton, download_id, {"expires_in_days": 30})
    assert ShareLink.model_validate(carton.store.links_of("demo", download_id)[0]).expires_at == soon
    assert link["expires_at"].startswith(soon.strftime("%Y-%m-%dT%H:%M"))


def test_the_completion_e_mail_carries_a_share_link_that_opens_the_archive(carton: Carton) -> None:
    aws.ses().verify_email_identity(EmailAddress=parseaddr(LOCAL_MAIL_FROM)[1])
    context = load_event("api/create_download")["requestContext"]["authorizer"]
    request = CreateDownloadRequest(asset_ids=["demo-readme"], name="Mailed")
    download_id = create_download(principal_from_context(context), request, carton.store, BASE).download_id
    run_workflow(carton, download_id)
    carton.invoke("workflow_notify", {"account_id": "demo", "download_id": download_id, "event": "completed"})
    body = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages[-1].body
    shared = re.search(rf"{re.escape(BASE)}/api/v1/shared/shr_\S+", body)
    assert shared is not None, body
    status, headers, _ = open_link(carton, shared.group(0))
    assert status == 302 and "Mailed.zip" in unquote(headers["location"])
    (link,) = links(carton, download_id)
    assert link["uses"] == 1 and link["expires_at"] <= carton.store.get_download(
        "demo", download_id
    ).expires_at.isoformat().replace("+00:00", "Z")  # type: ignore[union-attr]


def test_no_link_is_made_for_a_download_being_deleted(carton: Carton) -> None:
    download_id = finished(carton)
    carton.store.mark_deleting(carton.store.get_download("demo", download_id))
    status, _, error = make_link(carton, download_id)
    assert status == 409 and error["errors"] == {"state": ["no link can be made"]}
    assert carton.store.links_of("demo", download_id) == []


def test_a_mail_ses_refused_leaves_no_open_link(carton: Carton, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.ENV_MAIL_FROM, "Carton <unverified@elsewhere.example>")  # SES sends only from verified
    config.settings.cache_clear()
    context = load_event("api/create_download")["requestContext"]["authorizer"]
    request = CreateDownloadRequest(asset_ids=["demo-readme"], name="Unsent")
    download_id = create_download(principal_from_context(context), request, carton.store, BASE).download_id
    run_workflow(carton, download_id)
    carton.invoke("workflow_notify", {"account_id": "demo", "download_id": download_id, "event": "completed"})
    assert carton.store.get_download("demo", download_id).notifications["email"].state == "failed"
    (link,) = links(carton, download_id)
    assert link["revoked"] is True
