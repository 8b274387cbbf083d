"""Users and API keys: admins manage them, members see themselves; secrets shown once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from carton.accounts.keys import token_hash
from carton_local.lambdas import FunctionError
from tests.integration.conftest import Carton, api_event, load_event


def call(
    carton: Carton,
    function: str,
    method: str,
    path: str,
    body: Any = None,
    member: str | None = None,
    parameters: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    return carton.api(function, api_event(method, path, body, parameters=parameters, member=member))


def authorize(carton: Carton, secret: str) -> dict[str, Any]:
    event = load_event("authorizer/token")
    event["authorizationToken"] = f"Bearer {secret}"
    result: dict[str, Any] = carton.invoke("authorizer", event)
    return result


def test_admin_creates_a_member_and_a_limited_key_that_works_until_revoked(carton: Carton) -> None:
    status, headers, user = call(
        carton, "create_user", "POST", "/api/v1/account/users", {"email": "Maria@Example.com", "role": "member"}
    )
    assert status == 201 and headers["location"] == user["url"] and user["role"] == "member"
    status, _, again = call(carton, "create_user", "POST", "/api/v1/account/users", {"email": "maria@example.com"})
    assert status == 409 and "email" in again["errors"]

    status, _, key = call(
        carton,
        "create_token",
        "POST",
        "/api/v1/account/tokens",
        {"user_id": user["id"], "download_types": ["preview"], "name": "ci"},
    )
    assert status == 201 and key["token"].startswith("ctn_") and key["download_types"] == ["preview"]
    context = authorize(carton, key["token"])["context"]
    assert (context["user_id"], context["role"], context["download_types"]) == (user["id"], "member", "preview")
    assert not [item for item in carton.store.table.scan()["Items"] if key["token"] in json.dumps(item, default=str)]
    assert any(item["pk"] == f"TOKEN#{token_hash(key['token'])}" for item in carton.store.table.scan()["Items"])

    path = f"/api/v1/account/tokens/{key['id']}"
    assert call(carton, "delete_token", "DELETE", path, parameters={"token_id": key["id"]})[0] == 204
    with pytest.raises(FunctionError):
        authorize(carton, key["token"])
    assert call(carton, "delete_token", "DELETE", path, parameters={"token_id": key["id"]})[0] == 404


def test_members_may_not_manage_and_see_only_themselves(carton: Carton) -> None:
    carton.add_member("maria")
    assert call(carton, "create_user", "POST", "/api/v1/account/users", {"email": "x@y.zz"}, member="maria")[0] == 403
    assert call(carton, "create_token", "POST", "/api/v1/account/tokens", {}, member="maria")[0] == 403
    status, _, listed = call(carton, "list_users", "GET", "/api/v1/account/users", member="maria")
    assert status == 200 and [u["id"] for u in listed["results"]] == ["maria"]
    assert (
        call(carton, "get_user", "GET", "/api/v1/account/users/admin", member="maria", parameters={"user_id": "admin"})[
            0
        ]
        == 403
    )
    status, _, admins = call(carton, "list_users", "GET", "/api/v1/account/users")
    assert status == 200 and admins["count"] == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b.cd", "role": "owner"}, "role"),
        ({"email": "a@b.cd", "extra": 1}, "extra"),
    ],
)
def test_bad_users_are_422(carton: Carton, body: dict[str, Any], field: str) -> None:
    status, _, error = call(carton, "create_user", "POST", "/api/v1/account/users", body)
    assert status == 422 and field in error["errors"]


def test_a_key_for_an_unknown_user_is_404_and_repeated_types_422(carton: Carton) -> None:
    assert call(carton, "create_token", "POST", "/api/v1/account/tokens", {"user_id": "ghost"})[0] == 404
    status, _, error = call(carton, "create_token", "POST", "/api/v1/account/tokens", {"download_types": ["a", "a"]})
    assert status == 422 and "download_types" in error["errors"]


def test_a_limited_key_cannot_mint_a_stronger_one(carton: Carton) -> None:
    """An admin key limited to `preview`: `{}` gives a key with the same limit, never an unlimited one."""
    limited = load_event("api/create_download")
    limited["requestContext"]["authorizer"]["download_types"] = "preview"

    def mint(body: dict[str, Any]) -> tuple[int, Any]:
        event = json.loads(json.dumps(limited))
        event.update(httpMethod="POST", path="/api/v1/account/tokens", resource="/api/v1/account/tokens")
        event["body"] = json.dumps(body)
        status, _, answer = carton.api("create_token", event)
        return status, answer

    status, minted = mint({})
    assert status == 201 and minted["download_types"] == ["preview"]
    assert authorize(carton, minted["token"])["context"]["download_types"] == "preview"
    status, error = mint({"download_types": ["archive"]})
    assert status == 403 and "download_types" in error["errors"]


def test_the_account_shows_its_settings_and_admins_replace_them(carton: Carton) -> None:
    status, _, account = call(carton, "get_account", "GET", "/api/v1/account")
    assert status == 200 and account["name"] == "demo" and account["notify_domains"] == []
    assert account["mail_today"] == 0 and account["mail_per_day"] > 0
    body = {"notify_domains": ["partner.example", "agency.example"]}
    status, _, account = call(carton, "replace_account", "PUT", "/api/v1/account", body)
    assert status == 200 and account["notify_domains"] == ["partner.example", "agency.example"]
    carton.add_member("maria")
    assert call(carton, "replace_account", "PUT", "/api/v1/account", {"notify_domains": []}, member="maria")[0] == 403
    assert call(carton, "get_account", "GET", "/api/v1/account", member="maria")[0] == 200
    for bad in (["Partner.Example"], ["*.example"], ["a.example", "a.example"], ["x" * 300 + ".example"], "no"):
        status, _, error = call(carton, "replace_account", "PUT", "/api/v1/account", {"notify_domains": bad})
        assert status == 422 and "notify_domains" in str(error["errors"]), bad
