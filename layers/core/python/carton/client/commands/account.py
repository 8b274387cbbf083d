"""`carton account`: the account, its users and keys."""

from __future__ import annotations

from typing import Annotated

import typer

from carton.accounts.api import CreateTokenRequest, CreateUserRequest
from carton.accounts.models import Role
from carton.client.commands.common import session

account = typer.Typer(no_args_is_help=True, help="Your account, its users and keys.")


@account.command("show")
def account_show(context: typer.Context) -> None:
    s = session(context)
    s.output.result(s.client.get_account(), ())


@account.command("create-key")
def account_create_key(
    context: typer.Context,
    user: Annotated[str | None, typer.Option(help="for this user (default: you)")] = None,
    name: Annotated[str | None, typer.Option(help="what the key is for")] = None,
    download_type: Annotated[list[str] | None, typer.Option(help="only these download types")] = None,
) -> None:
    """Issue an API key (admins). The secret is shown once."""
    s = session(context)
    request = CreateTokenRequest(user_id=user, name=name, download_types=download_type or None)
    s.output.result(s.client.create_token(request), ())


@account.command("revoke-key")
def account_revoke_key(context: typer.Context, key_id: str) -> None:
    s = session(context)
    s.client.delete_token(key_id)
    s.output.note(f"revoked {key_id}")


@account.command("users")
def account_users(context: typer.Context) -> None:
    """The account's users (members: themselves)."""
    s = session(context)
    s.output.result(list(s.client.list_users()), ("id", "email", "role", "created_at"))


@account.command("add-user")
def account_add_user(
    context: typer.Context, email: str, admin: Annotated[bool, typer.Option(help="an admin")] = False
) -> None:
    s = session(context)
    s.output.result(s.client.create_user(CreateUserRequest(email=email, role=Role.ADMIN if admin else Role.MEMBER)), ())
