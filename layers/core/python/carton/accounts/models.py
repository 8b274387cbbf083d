"""Accounts, their users and API keys as stored, and the caller as the authorizer
established it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict, Field

from carton.shared.fields import Model, utcnow


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class Principal(Model):
    """Who is calling, as the authorizer established it."""

    model_config = ConfigDict(frozen=True)

    account_id: str
    user_id: str
    role: Role
    token_id: str
    # None: every download type is allowed.
    download_types: tuple[str, ...] | None = None

    def may_create(self, download_type: str) -> bool:
        return self.download_types is None or download_type in self.download_types


class User(Model):
    account_id: str
    user_id: str
    email: str
    role: Role
    created_at: datetime = Field(default_factory=utcnow)


ACCOUNT_NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"


# A DNS name: labels of letters, digits and inner hyphens, at least one dot.
DOMAIN_PATTERN = r"^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"


MAX_NOTIFY_DOMAINS = 50


class Account(Model):
    account_id: str
    name: str
    # Besides the account's own users, notification e-mails may go to these domains only.
    notify_domains: list[str] = Field(default_factory=list)
    created_at: datetime | None = None


class TokenRecord(Model):
    """What an admin can see about a key: never the secret, only a reference to its hash."""

    account_id: str
    token_id: str
    token_hash: str
    user_id: str
    name: str | None = None
    download_types: tuple[str, ...] | None = None
    created_at: datetime = Field(default_factory=utcnow)
