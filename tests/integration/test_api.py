"""API functions invoked with API Gateway events: responses, records, errors."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from carton.downloads.models import DownloadState
from carton.downloads.service import execution_arn
from carton.shared import aws, config
from carton_local.lambdas import FunctionError
from tests.integration.conftest import Carton, api_event, as_member, load_event


def create(carton: Carton, body: object, member: str | None = None) -> tuple[int, dict[str, str], dict]:
    event = load_event("api/create_download")
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    if member:
        as_member(event, member)
    return carton.api("create_download", event)


def test_health_needs_no_principal(carton: Carton) -> None:
    status, _, body = carton.api("health", load_event("api/health"))
    assert (status, body) == (200, {"status": "ok"})


def test_create_records_a_pending_download_and_starts_its_workflow(carton: Carton) -> None:
    status, headers, body = create(carton, json.loads(load_event("api/create_download")["body"]))
    assert status == 201
    assert (
        headers["location"]
        == body["url"]
        == f"https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod/api/v1/downloads/{body['id']}"
    )
    assert body["state"] == "pending" and body["complete"] is False and body["file_url"] is None
    assert body["name"] == "Spring campaign" and body["zip_filename"] == "Spring campaign.zip"
    assert body["layout"] == "folders" and body["assets"] == ["demo-readme", "demo-logo"]
    assert body["created_by"] == {
        "id": "admin",
        "email": "admin@demo.local",
        "url": "https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod/api/v1/account/users/admin",
    }
    assert carton.store.get_download("demo", body["id"]).state is DownloadState.PENDING
    execution = aws.stepfunctions().describe_execution(executionArn=execution_arn(body["id"]))
    assert json.loads(execution["input"]) == {"account_id": "demo", "download_id": body["id"]}


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ("{not json", 400, "body"),
        ({"asset_ids": ["demo-readme"], "colour": "red"}, 422, "colour"),
        ({"asset_ids": "demo-readme"}, 422, "asset_ids"),
        ({"asset_ids": []}, 422, "asset_ids"),
        ({"asset_ids": ["demo-readme", "nope"]}, 422, "asset_ids"),
        ({"asset_ids": ["demo-readme"], "zip_filename": "a.rar"}, 422, "zip_filename"),
    ],
)
def test_bad_input_is_a_4xx_with_the_error_body_and_writes_nothing(
    carton: Carton, body: object, status: int, field: str
) -> None:
    got, _, error = create(carton, body)
    assert got == status
    assert set(error) == {"message", "errors"} and field in error["errors"]
    items = carton.store.table.scan()["Items"]
    assert not [item for item in items if item["sk"].startswith("DOWNLOAD#")]


def test_another_accounts_asset_is_unknown(carton: Carton) -> None:
    event = load_event("api/create_download")
    event["requestContext"]["authorizer"]["account_id"] = "other"
    event["body"] = json.dumps({"asset_ids": ["demo-readme"]})
    status, _, error = carton.api("create_download", event)
    assert status == 422 and "demo-readme" in error["errors"]["asset_ids"][0]


def test_a_key_limited_to_other_download_types_is_forbidden(carton: Carton) -> None:
    event = load_event("api/create_download")
    event["requestContext"]["authorizer"]["download_types"] = "preview"
    status, _, error = carton.api("create_download", event)
    assert status == 403 and "download_type" in error["errors"]


def test_get_shows_the_download_to_its_creator_and_admins_only(carton: Carton) -> None:
    carton.add_member("maria")
    carton.add_member("omar")
    _, _, created = create(carton, {"asset_ids": ["demo-logo"]}, member="maria")
    event = load_event("api/get_download")
    event["pathParameters"] = {"download_id": created["id"]}
    event["path"] = f"/api/v1/downloads/{created['id']}"
    assert carton.api("get_download", as_member(json.loads(json.dumps(event)), "maria"))[0] == 200
    assert carton.api("get_download", event)[0] == 200  # the admin
    status, _, error = carton.api("get_download", as_member(event, "omar"))
    assert status == 403 and error["errors"]


def test_a_download_being_packaged_says_when_to_ask_again(carton: Carton) -> None:
    _, _, created = create(carton, {"asset_ids": ["demo-logo"]})
    path = f"/api/v1/downloads/{created['id']}"
    status, headers, body = carton.api(
        "get_download", api_event("GET", path, parameters={"download_id": created["id"]})
    )
    assert status == 200 and body["state"] == "pending"
    assert headers["retry-after"] == "2" and body["progress"]["eta_seconds"] is None


def test_unknown_download_is_404(carton: Carton) -> None:
    status, _, error = carton.api("get_download", load_event("api/get_download"))
    assert status == 404 and error["message"] == "Download not found"


def test_file_is_404_until_complete_then_a_presigned_attachment_then_410(carton: Carton) -> None:
    _, _, created = create(carton, {"asset_ids": ["demo-logo"], "zip_filename": "Logos ñ.zip"})
    event = load_event("api/download_file")
    event["pathParameters"] = {"download_id": created["id"]}
    event["path"] = f"/api/v1/downloads/{created['id']}/file"
    status, _, error = carton.api("download_file", event)
    assert status == 404 and "pending" in error["errors"]["state"][0]

    carton.store.update_download(
        "demo",
        created["id"],
        expect=[DownloadState.PENDING],
        state=DownloadState.COMPLETE,
        archive_key="archives/x.zip",
    )
    status, headers, _ = carton.api("download_file", event)
    assert status == 302
    query = parse_qs(urlsplit(headers["location"]).query)
    assert query["response-content-disposition"][0].startswith('attachment; filename="Logos _.zip"')
    assert int(query.get("X-Amz-Expires", query.get("Expires", ["0"]))[0]) > 0

    carton.store.update_download("demo", created["id"], expect=[DownloadState.COMPLETE], state=DownloadState.EXPIRED)
    assert carton.api("download_file", event)[0] == 410


def test_a_workflow_that_cannot_start_leaves_a_failed_record_not_a_pending_one(
    carton: Carton, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = carton.resources.state_machine_arn + "-missing"
    monkeypatch.setenv(config.ENV_STATE_MACHINE, missing)
    config.settings.cache_clear()
    with pytest.raises(FunctionError):
        create(carton, {"asset_ids": ["demo-logo"]})
    items = [i for i in carton.store.table.scan()["Items"] if i["sk"].startswith("DOWNLOAD#")]
    assert [(i["state"], i["error"]["code"]) for i in items] == [("failed", "workflow_unavailable")]


def test_an_idempotency_key_creates_one_download_and_refuses_another_body(carton: Carton) -> None:
    event = load_event("api/create_download")
    event["headers"]["Idempotency-Key"] = "order-4711"
    first = carton.api("create_download", event)
    again = carton.api("create_download", event)
    assert first[0] == again[0] == 201
    assert first[2]["id"] == again[2]["id"]
    downloads = [i for i in carton.store.table.scan()["Items"] if i["sk"].startswith("DOWNLOAD#")]
    assert len(downloads) == 1
    event["body"] = json.dumps({"asset_ids": ["demo-photo"]})
    status, _, error = carton.api("create_download", event)
    assert status == 409
    assert "Idempotency-Key" in error["errors"]
    other_account = load_event("api/create_download")
    other_account["headers"]["Idempotency-Key"] = "order-4711"
    other_account["requestContext"]["authorizer"]["account_id"] = "elsewhere"
    assert carton.api("create_download", other_account)[0] == 422  # its own key space: the assets are unknown there
    # A member replaying the admin's key and body gets a download of their own, never the admin's.
    carton.add_member("maria")
    replay = load_event("api/create_download")
    replay["headers"]["Idempotency-Key"] = "order-4711"
    status, _, theirs = carton.api("create_download", as_member(replay, "maria"))
    assert status == 201 and theirs["id"] != first[2]["id"] and theirs["created_by"]["id"] == "maria"
