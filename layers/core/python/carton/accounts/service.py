"""Users and API keys of an account. Admins manage them; members see themselves."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from carton.accounts.api import AccountOut, AccountSettings, CreateTokenRequest, CreateUserRequest
from carton.accounts.keys import issue_token
from carton.accounts.models import Account, Principal, Role, TokenRecord, User
from carton.shared.config import settings
from carton.shared.errors import Forbidden, ValidationFailed
from carton.shared.fields import utcnow
from carton.storage.keys import USER_PREFIX, account_partition
from carton.storage.listing import ListPlan, Phase, paged
from carton.storage.schema import TABLE_KEYS
from carton.storage.table import record_of
from carton.store import Store
from carton.web.paging import envelope, fingerprint


def require_admin(principal: Principal) -> None:
    if principal.role is not Role.ADMIN:
        raise Forbidden("Only account admins may do this", {"role": ["admin required"]})


def mail_day(at: datetime | None = None) -> str:
    """The UTC day a notification e-mail counts against."""
    return (at or utcnow()).strftime("%Y-%m-%d")


def account_representation(account: Account, base: str, store: Store) -> AccountOut:
    return AccountOut.of(
        account,
        base,
        mail_per_day=settings().mail_per_day,
        mail_today=store.mail_sent(account.account_id, mail_day()),
    )


def replace_settings(principal: Principal, request: AccountSettings, store: Store) -> Account:
    require_admin(principal)
    return store.set_notify_domains(principal.account_id, request.notify_domains)


def refused_recipients(account_id: str, emails: list[str], store: Store) -> list[str]:
    """Addresses a download may not notify: neither a user of the account nor in one of
    its admins' notify_domains. Carton never mails strangers on a caller's say-so."""
    domains: set[str] | None = None
    refused = []
    for email in emails:
        if store.has_email(account_id, email):
            continue
        if domains is None:
            domains = set(store.get_account(account_id).notify_domains)
        if email.rsplit("@", 1)[-1].casefold() not in domains:
            refused.append(email)
    return refused


def may_read_mail_to(principal: Principal, recipients: list[str], store: Store) -> bool:
    """Whether a message to `recipients` concerns this caller: mail to them (members), or
    to any user of their account (admins). Every message Carton sends goes to the
    download's creator, so each one belongs to an account."""
    if principal.role is Role.ADMIN:
        return any(store.has_email(principal.account_id, address) for address in recipients)
    me = store.get_user(principal.account_id, principal.user_id).email.casefold()
    return me in {address.casefold() for address in recipients}


def visible_user(principal: Principal, user_id: str, store: Store) -> User:
    if principal.role is not Role.ADMIN and user_id != principal.user_id:
        raise Forbidden("Members may only see themselves", {"user_id": ["not you"]})
    return store.get_user(principal.account_id, user_id)


def list_users(
    principal: Principal, parameters: Mapping[str, str], store: Store, cursor_key: bytes, url: str
) -> tuple[dict[str, Any], list[User]]:
    if principal.role is not Role.ADMIN:
        me = store.get_user(principal.account_id, principal.user_id)
        return envelope(1, None, None, []), [me]
    plan = ListPlan(
        phases=(Phase(((None, account_partition(principal.account_id)),)),),
        ascending=True,
        lower=USER_PREFIX,
        upper=USER_PREFIX + "\uffff",
        sort_attribute=TABLE_KEYS.sort_key,
    )
    print_ = fingerprint(account=principal.account_id, list="users")
    body, page = paged(store, plan, parameters, cursor_key, url, print_)
    return body, [record_of(User, item) for item in page.items]


def create_user(principal: Principal, request: CreateUserRequest, store: Store) -> User:
    require_admin(principal)
    user = User(
        account_id=principal.account_id, user_id="u" + secrets.token_hex(6), email=request.email, role=request.role
    )
    store.put_user(user)
    return user


def create_token(principal: Principal, request: CreateTokenRequest, store: Store) -> tuple[TokenRecord, str]:
    require_admin(principal)
    user = store.get_user(principal.account_id, request.user_id or principal.user_id)
    types = request.download_types
    if types is not None and len(set(types)) != len(types):
        raise ValidationFailed("Repeated download types", {"download_types": ["each type once"]})
    granted = granted_types(principal.download_types, tuple(types) if types else None)
    return issue_token(store, user, download_types=granted, name=request.name)


def granted_types(caller: tuple[str, ...] | None, requested: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The download types a new key may create: never more than the key that asks for it
    (None: every type). A limited key asking for no limit passes its own limits on."""
    if caller is None:
        return requested
    if requested is None:
        return caller
    beyond = [kind for kind in requested if kind not in caller]
    if beyond:
        raise Forbidden(
            "A key cannot grant more than it has",
            {"download_types": [f"this key may only create {', '.join(caller)}; not {', '.join(beyond)}"]},
        )
    return requested


def delete_token(principal: Principal, token_id: str, store: Store) -> None:
    require_admin(principal)
    store.delete_token(store.get_token(principal.account_id, token_id))
