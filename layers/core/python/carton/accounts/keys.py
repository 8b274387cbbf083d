"""API keys: issuing, hashing, checking, and carrying the principal to handlers.

Only a key's SHA-256 is stored. Keys are 256 random bits, so a fast hash is enough:
there is nothing to brute-force that a slow hash would protect.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from carton.accounts.models import Principal, Role, TokenRecord, User
from carton.shared.errors import Unauthorized
from carton.store import Store

TOKEN_PREFIX = "ctn_"  # noqa: S105 (a prefix that makes keys recognisable, not a secret)
_AUTHORIZATION = re.compile(r"^\s*(?:token|bearer)\s+(\S+)\s*$", re.IGNORECASE)
_ALL_TYPES = "*"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_from_header(header: str | None) -> str:
    """The key from `Authorization: Token <key>` or `Bearer <key>`."""
    match = _AUTHORIZATION.match(header or "")
    if match is None:
        raise Unauthorized(
            "Authentication required",
            {"authorization": ["send 'Authorization: Token <key>' or 'Bearer <key>'"]},
        )
    return match.group(1)


def authenticate(header: str | None, store: Store) -> Principal:
    principal = store.principal_for_token_hash(token_hash(token_from_header(header)))
    if principal is None:
        raise Unauthorized("Invalid token", {"authorization": ["the key is unknown or revoked"]})
    return principal


def _new_key(
    user: User, token: str | None, download_types: tuple[str, ...] | None, name: str | None
) -> tuple[TokenRecord, Principal, str]:
    secret = token or new_token()
    record = TokenRecord(
        account_id=user.account_id,
        token_id=secrets.token_hex(8),
        token_hash=token_hash(secret),
        user_id=user.user_id,
        name=name,
        download_types=download_types,
    )
    principal = Principal(
        account_id=user.account_id,
        user_id=user.user_id,
        role=user.role,
        token_id=record.token_id,
        download_types=download_types,
    )
    return record, principal, secret


def issue_token(
    store: Store,
    user: User,
    token: str | None = None,
    download_types: tuple[str, ...] | None = None,
    name: str | None = None,
) -> tuple[TokenRecord, str]:
    """Store a new key for `user`; the secret is returned once and never stored."""
    record, principal, secret = _new_key(user, token, download_types, name)
    store.put_token(record.token_hash, principal, record)
    return record, secret


def create_account(
    store: Store, account_id: str, admin_email: str, token: str | None = None
) -> tuple[User, TokenRecord, str]:
    """An account with one admin user and a key for that admin, all or nothing
    (Conflict if the name is taken)."""
    admin = User(account_id=account_id, user_id="admin", email=admin_email, role=Role.ADMIN)
    record, principal, secret = _new_key(admin, token, None, "first admin key")
    store.create_account(admin, record.token_hash, principal, record)
    return admin, record, secret


# ---- API Gateway authorizer contract -------------------------------------------------


def authorizer_policy(principal: Principal, method_arn: str) -> dict[str, Any]:
    """An Allow policy for the whole API stage plus the principal as context.

    API Gateway caches the answer per key and applies it to every route, so the
    policy must cover them all; per-route checks happen in the handlers.
    """
    arn, _, rest = method_arn.partition("/")
    stage = rest.split("/", 1)[0]
    return {
        "principalId": principal.user_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": f"{arn}/{stage}/*"}],
        },
        "context": {
            "account_id": principal.account_id,
            "user_id": principal.user_id,
            "role": principal.role.value,
            "token_id": principal.token_id,
            "download_types": _ALL_TYPES if principal.download_types is None else ",".join(principal.download_types),
        },
    }


def principal_from_context(context: dict[str, Any]) -> Principal:
    """The principal the authorizer put into `requestContext.authorizer`."""
    try:
        types = str(context["download_types"])
        return Principal(
            account_id=str(context["account_id"]),
            user_id=str(context["user_id"]),
            role=Role(str(context["role"])),
            token_id=str(context["token_id"]),
            download_types=None if types == _ALL_TYPES else tuple(filter(None, types.split(","))),
        )
    except (KeyError, ValueError) as error:
        raise Unauthorized("Authentication required") from error
