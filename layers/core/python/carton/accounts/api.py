"""Accounts, users and keys on the wire: what clients send, and what they are shown
(each Out model built by its `of`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field, field_validator

from carton.accounts.models import (
    ACCOUNT_NAME_PATTERN,
    DOMAIN_PATTERN,
    MAX_NOTIFY_DOMAINS,
    Account,
    Role,
    TokenRecord,
    User,
)
from carton.shared.fields import EMAIL_PATTERN, MAX_NAME_LENGTH, Line, Model
from carton.web.routes import url_for
from carton.web.shapes import ListOf

DownloadType = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class CreateUserRequest(Model):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    role: Role = Role.MEMBER


class AccountSettings(Model):
    """What an account's admins decide (PUT replaces it whole)."""

    model_config = ConfigDict(extra="forbid")

    notify_domains: list[Annotated[str, Field(max_length=253, pattern=DOMAIN_PATTERN)]] = Field(
        max_length=MAX_NOTIFY_DOMAINS,
        description="domains (lowercase, e.g. partner.example) that notify.emails may name besides the "
        "account's own users; subdomains are not included",
    )

    @field_validator("notify_domains")
    @classmethod
    def _each_once(cls, domains: list[str]) -> list[str]:
        if len(set(domains)) != len(domains):
            raise ValueError("each domain once")
        return domains


class AccountOut(Model):
    id: str
    url: str
    name: str
    notify_domains: list[str]
    mail_per_day: int = Field(description="notification e-mails (recipients) this account may send per UTC day")
    mail_today: int = Field(description="recipients e-mailed so far today (UTC)")

    @classmethod
    def of(cls, account: Account, base_url: str, *, mail_per_day: int, mail_today: int) -> AccountOut:
        return cls(
            id=account.account_id,
            url=url_for("get_account", base_url),
            name=account.name,
            notify_domains=account.notify_domains,
            mail_per_day=mail_per_day,
            mail_today=mail_today,
        )


class CreateAccountRequest(Model):
    """What an operator gives `make account` (the IAM-only admin function)."""

    model_config = ConfigDict(extra="forbid")

    account: str = Field(
        pattern=ACCOUNT_NAME_PATTERN,
        description="1-63 lowercase letters, digits and inner hyphens",
    )
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN, description="the first admin's e-mail")


class UserOut(Model):
    id: str
    url: str
    email: str
    role: Role
    created_at: datetime

    @classmethod
    def of(cls, user: User, base_url: str) -> UserOut:
        return cls(
            id=user.user_id,
            url=url_for("get_user", base_url, user_id=user.user_id),
            email=user.email,
            role=user.role,
            created_at=user.created_at,
        )


class CreateTokenRequest(Model):
    model_config = ConfigDict(extra="forbid")

    user_id: str | None = Field(default=None, min_length=1, max_length=64, description="default: the caller")
    name: Line | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    download_types: list[DownloadType] | None = Field(
        default=None, min_length=1, max_length=20, description="limit the key to these download types"
    )


class TokenOut(Model):
    id: str
    url: str
    user_id: str
    name: str | None
    download_types: list[str] | None
    created_at: datetime
    token: str | None = Field(default=None, description="the secret; shown once, when the key is created")

    @classmethod
    def of(cls, record: TokenRecord, base_url: str, secret: str | None = None) -> TokenOut:
        """`secret`: only in the answer that creates the key."""
        return cls(
            id=record.token_id,
            url=url_for("delete_token", base_url, token_id=record.token_id),
            user_id=record.user_id,
            name=record.name,
            download_types=list(record.download_types) if record.download_types is not None else None,
            created_at=record.created_at,
            token=secret,
        )


UserList = ListOf[UserOut]
