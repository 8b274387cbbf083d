import pytest

from carton_local.lambdas import FunctionError
from tests.integration.conftest import Carton, load_event


def test_a_valid_key_is_allowed_with_the_principal_in_the_context(carton: Carton) -> None:
    event = load_event("authorizer/token")
    event["authorizationToken"] = f"Token {carton.token}"
    result = carton.invoke("authorizer", event)
    assert result["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert result["context"]["account_id"] == "demo" and result["context"]["role"] == "admin"


@pytest.mark.parametrize("header", ["Token ctn_not-a-key", "Basic abc", ""])
def test_anything_else_is_unauthorized(carton: Carton, header: str) -> None:
    event = load_event("authorizer/token")
    event["authorizationToken"] = header
    with pytest.raises(FunctionError) as caught:
        carton.invoke("authorizer", event)
    assert caught.value.payload["errorMessage"] == "Unauthorized"


def test_only_the_hash_of_a_key_is_stored(carton: Carton) -> None:
    items = carton.store.table.scan()["Items"]
    assert not [item for item in items if carton.token in str(item)]
