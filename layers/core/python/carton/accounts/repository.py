"""Accounts, users, their e-mail markers, API keys and the daily mail count in the table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from carton.accounts.models import Account, Principal, TokenRecord, User
from carton.shared.errors import Conflict, NotFound
from carton.shared.fields import utcnow
from carton.storage.keys import (
    account_key,
    email_key,
    mail_day_key,
    token_key,
    token_ref_key,
    user_key,
)
from carton.storage.table import PK, TableLayer, failed_condition, item_of, record_of, refused_as

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import PutTypeDef, TransactWriteItemTypeDef


class AccountRecords(TableLayer):
    # ---- accounts, users, tokens -----------------------------------------------------

    def create_account(self, admin: User, token_hash: str, principal: Principal, record: TokenRecord) -> None:
        """The account, its first admin (with the e-mail marker) and the admin's key, in one
        transaction: a name already taken changes nothing."""
        name = admin.account_id
        new = f"attribute_not_exists({PK})"
        items: list[tuple[dict[str, Any], str | None]] = [
            ({**account_key(name), "account_id": name, "name": name, "created_at": utcnow().isoformat()}, new),
            (item_of(admin, **user_key(admin.account_id, admin.user_id)), new),
            ({**email_key(admin.account_id, admin.email), "user_id": admin.user_id}, new),
            (item_of(principal, **token_key(token_hash)), new),
            (item_of(record, **token_ref_key(record.account_id, record.token_id)), None),
        ]
        puts: list[TransactWriteItemTypeDef] = []
        for item, condition in items:
            put: PutTypeDef = {"TableName": self.table.name, "Item": item}
            if condition:
                put["ConditionExpression"] = condition
            puts.append({"Put": put})
        with refused_as(
            Conflict("That account exists already", {"account": [f"{name!r} is taken; choose another name"]})
        ):
            self._transact(puts)

    def put_user(self, user: User) -> None:
        """The user and a marker that keeps e-mail addresses unique within the account."""
        with refused_as(Conflict("That user exists already", {"email": ["already used in this account"]})):
            self._transact(
                [
                    {
                        "Put": {
                            "TableName": self.table.name,
                            "Item": item_of(user, **user_key(user.account_id, user.user_id)),
                            "ConditionExpression": f"attribute_not_exists({PK})",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table.name,
                            "Item": {**email_key(user.account_id, user.email), "user_id": user.user_id},
                            "ConditionExpression": f"attribute_not_exists({PK})",
                        }
                    },
                ]
            )

    def get_account(self, account_id: str) -> Account:
        item = self.table.get_item(Key=account_key(account_id)).get("Item")
        if item is None:
            raise NotFound("Account not found", {"account": [f"no account {account_id!r}"]})
        return record_of(Account, item)

    def set_notify_domains(self, account_id: str, domains: list[str]) -> Account:
        with refused_as(NotFound("Account not found", {"account": [f"no account {account_id!r}"]})):
            response = self.table.update_item(
                Key=account_key(account_id),
                UpdateExpression="SET notify_domains = :domains",
                ConditionExpression=f"attribute_exists({PK})",
                ExpressionAttributeValues={":domains": domains},
                ReturnValues="ALL_NEW",
            )
        return record_of(Account, response["Attributes"])

    def mail_sent(self, account_id: str, day: str) -> int:
        """Recipients e-mailed on `day` (YYYY-MM-DD, UTC)."""
        item = self.table.get_item(Key=mail_day_key(account_id, day)).get("Item") or {}
        return int(str(item.get("sent", 0)))

    def take_mail_quota(self, account_id: str, day: str, recipients: int, per_day: int) -> bool:
        """Count `recipients` against the day's quota, atomically; False (nothing counted)
        when they would go over it."""
        if recipients > per_day:
            return False
        try:
            self.table.update_item(
                Key=mail_day_key(account_id, day),
                UpdateExpression="ADD sent :n",
                ConditionExpression="attribute_not_exists(sent) OR sent <= :room",
                ExpressionAttributeValues={":n": recipients, ":room": per_day - recipients},
            )
        except ClientError as error:
            if failed_condition(error):
                return False
            raise
        return True

    def has_email(self, account_id: str, email: str) -> bool:
        """Whether a user of the account has this e-mail address."""
        key = email_key(account_id, email)
        return "Item" in self.table.get_item(Key=key)

    def get_user(self, account_id: str, user_id: str) -> User:
        item = self.table.get_item(Key=user_key(account_id, user_id)).get("Item")
        if item is None:
            raise NotFound("User not found", {"user_id": [f"no user {user_id!r}"]})
        return record_of(User, item)

    def put_token(self, token_hash: str, principal: Principal, record: TokenRecord) -> None:
        """The key (by hash, for the authorizer) and its record (by id, for admins)."""
        self._transact(
            [
                {
                    "Put": {
                        "TableName": self.table.name,
                        "Item": item_of(principal, **token_key(token_hash)),
                    }
                },
                {
                    "Put": {
                        "TableName": self.table.name,
                        "Item": item_of(record, **token_ref_key(record.account_id, record.token_id)),
                    }
                },
            ]
        )

    def get_token(self, account_id: str, token_id: str) -> TokenRecord:
        item = self.table.get_item(Key=token_ref_key(account_id, token_id)).get("Item")
        if item is None:
            raise NotFound("Token not found", {"token_id": [f"no key {token_id!r} in this account"]})
        return record_of(TokenRecord, item)

    def delete_token(self, record: TokenRecord) -> None:
        self._transact(
            [
                {"Delete": {"TableName": self.table.name, "Key": token_key(record.token_hash)}},
                {
                    "Delete": {
                        "TableName": self.table.name,
                        "Key": token_ref_key(record.account_id, record.token_id),
                    }
                },
            ]
        )

    def principal_for_token_hash(self, token_hash: str) -> Principal | None:
        item = self.table.get_item(Key=token_key(token_hash)).get("Item")
        return None if item is None else record_of(Principal, item)

    # ---- assets ----------------------------------------------------------------------
