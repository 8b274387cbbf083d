"""The operators' admin function: a new account with its first admin and key, all or nothing."""

from __future__ import annotations

from typing import Any

import pytest

from carton.accounts.keys import token_hash
from carton.accounts.models import Role
from tests.integration.conftest import Carton, load_event


def admin(carton: Carton, **event: Any) -> dict[str, Any]:
    answer: dict[str, Any] = carton.invoke("admin", {"action": "create_account", **event})
    return answer


def items_of(carton: Carton, account: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = carton.store.table.query(
        KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": f"ACCOUNT#{account}"}
    )["Items"]
    return found


def test_a_new_account_gets_an_admin_and_a_key_that_sees_only_its_own_account(carton: Carton) -> None:
    answer: dict[str, Any] = carton.invoke("admin", load_event("admin/create_account"))
    assert answer["status"] == 201 and answer["account"] == "acme" and answer["token"].startswith("ctn_")
    assert answer["user"] == {"id": "admin", "email": "ops@acme.example", "role": "admin"}
    principal = carton.store.principal_for_token_hash(token_hash(answer["token"]))
    assert principal is not None
    assert (principal.account_id, principal.role, principal.download_types) == ("acme", Role.ADMIN, None)
    kinds = sorted(item["sk"].split("#")[0] for item in items_of(carton, "acme"))
    assert kinds == ["ACCOUNT", "EMAIL", "TOKENREF", "USER"]
    # Only the hash is kept.
    assert all(answer["token"] not in str(item) for item in items_of(carton, "acme"))


def test_a_taken_name_is_refused_and_changes_nothing(carton: Carton) -> None:
    before = items_of(carton, "demo")
    answer = admin(carton, account="demo", email="intruder@elsewhere.example")
    assert answer["status"] == 409 and answer["errors"] == {"account": ["'demo' is taken; choose another name"]}
    assert items_of(carton, "demo") == before
    assert "token" not in answer


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"account": "", "email": "a@b.example"}, "account"),
        ({"account": "Has Spaces", "email": "a@b.example"}, "account"),
        ({"account": "-dash", "email": "a@b.example"}, "account"),
        ({"account": "x" * 64, "email": "a@b.example"}, "account"),
        ({"account": "fine", "email": "not-an-email"}, "email"),
        ({"account": "fine"}, "email"),
        ({"account": "fine", "email": "a@b.example", "role": "root"}, "role"),
    ],
)
def test_invalid_input_is_refused_with_the_field_and_creates_nothing(
    carton: Carton, event: dict[str, Any], field: str
) -> None:
    answer = admin(carton, **event)
    assert answer["status"] == 422 and field in answer["errors"], answer
    assert items_of(carton, "fine") == []


def test_an_unknown_action_is_refused(carton: Carton) -> None:
    assert carton.invoke("admin", {"action": "drop_tables"})["status"] == 400
    assert carton.invoke("admin", ["not", "an", "object"])["status"] == 400
