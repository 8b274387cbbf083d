import pytest

from carton.accounts.keys import authorizer_policy, new_token, principal_from_context, token_from_header, token_hash
from carton.accounts.models import Principal, Role
from carton.accounts.service import granted_types
from carton.shared.errors import Forbidden, Unauthorized


@pytest.mark.parametrize("header", ["Token abc", "token abc", "Bearer abc", "  BEARER   abc  "])
def test_token_and_bearer_schemes_are_accepted(header: str) -> None:
    assert token_from_header(header) == "abc"


@pytest.mark.parametrize("header", [None, "", "abc", "Basic abc", "Token", "Token a b"])
def test_anything_else_is_unauthorized(header: str | None) -> None:
    with pytest.raises(Unauthorized):
        token_from_header(header)


def test_keys_are_random_and_stored_as_sha256() -> None:
    first, second = new_token(), new_token()
    assert first != second and first.startswith("ctn_") and len(first) > 40
    assert token_hash(first) != first and len(token_hash(first)) == 64


def test_policy_covers_the_whole_stage_and_context_round_trips() -> None:
    principal = Principal(account_id="acme", user_id="u1", role=Role.MEMBER, token_id="t1", download_types=("archive",))
    policy = authorizer_policy(principal, "arn:aws:execute-api:eu-west-1:1:api123/prod/GET/api/v1/downloads/x")
    assert policy["policyDocument"]["Statement"][0]["Resource"] == "arn:aws:execute-api:eu-west-1:1:api123/prod/*"
    assert principal_from_context(policy["context"]) == principal
    everything = principal.model_copy(update={"download_types": None})
    assert principal_from_context(authorizer_policy(everything, "arn:x:y/prod/GET/")["context"]) == everything


def test_missing_context_is_unauthorized() -> None:
    with pytest.raises(Unauthorized):
        principal_from_context({})


ALL = None


@pytest.mark.parametrize(
    ("caller", "requested", "granted"),
    [
        (ALL, ALL, ALL),
        (ALL, ("preview",), ("preview",)),
        (("preview",), ALL, ("preview",)),  # asking for no limit passes the caller's on
        (("preview", "archive"), ("archive",), ("archive",)),
        (("preview", "archive"), ("preview", "archive"), ("preview", "archive")),
        (("preview",), ("archive",), Forbidden),
        (("preview",), ("preview", "archive"), Forbidden),
    ],
)
def test_a_key_never_grants_more_types_than_it_has(
    caller: tuple[str, ...] | None, requested: tuple[str, ...] | None, granted: object
) -> None:
    if granted is Forbidden:
        with pytest.raises(Forbidden):
            granted_types(caller, requested)
    else:
        assert granted_types(caller, requested) == granted
