"""Accounts, users, their e-mail markers, API keys and the daily mail count in the table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from carton.accounts.models import Account, Principal, TokenRecord, User
from carton.shared.errors import Conflict, NotFound
from carton.shared.fields import utcnow
from carton.storage.keys import account_partition
from carton.storage.table import PK, SK, TableLayer, failed_condition, item_of, record_of, refused_as

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import PutTypeDef, TransactWriteItemTypeDef


class AccountRecords(TableLayer):
    # ---- accounts, users, tokens -----------------------------------------------------

    def create_account(self, admin: User, token_hash: str, principal: Principal, record: TokenRecord) -> None:
        """The account, its first admin (with the e-mail marker) and the admin's key, in one
        transaction: a name already taken changes nothing."""
        account, name = account_partition(admin.account_id), admin.account_id
        new = f"attribute_not_exists({PK})"
        items: list[tuple[dict[str, Any], str | None]] = [
            ({PK: account, SK: "ACCOUNT", "account_id": name, "name": name, "created_at": utcnow().isoformat()}, new),
            (item_of(admin, **{PK: account, SK: f"USER#{admin.user_id}"}), new),
            ({PK: account, SK: f"EMAIL#{admin.email.casefold()}", "user_id": admin.user_id}, new),
            (item_of(principal, **{PK: f"TOKEN#{token_hash}", SK: "TOKEN"}), new),
            (item_of(record, **{PK: account, SK: f"TOKENREF#{record.token_id}"}), None),
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
                            "Item": item_of(
                                user, **{PK: account_partition(user.account_id), SK: f"USER#{user.user_id}"}
                            ),
                            "ConditionExpression": f"attribute_not_exists({PK})",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table.name,
                            "Item": {
                                PK: account_partition(user.account_id),
                                SK: f"EMAIL#{user.email.casefold()}",
                                "user_id": user.user_id,
                            },
                            "ConditionExpression": f"attribute_not_exists({PK})",
                        }
                    },
                ]
            )

    def get_account(self, account_id: str) -> Account:
        item = self.table.get_item(Key={PK: account_partition(account_id), SK: "ACCOUNT"}).get("Item")
        if item is None:
            raise NotFound("Account not found", {"account": [f"no account {account_id!r}"]})
        return record_of(Account, item)

    def set_notify_domains(self, account_id: str, domains: list[str]) -> Account:
        with refused_as(NotFound("Account not found", {"account": [f"no account {account_id!r}"]})):
            response = self.table.update_item(
                Key={PK: account_partition(account_id), SK: "ACCOUNT"},
                UpdateExpression="SET notify_domains = :domains",
                ConditionExpression=f"attribute_exists({PK})",
                ExpressionAttributeValues={":domains": domains},
                ReturnValues="ALL_NEW",
            )
        return record_of(Account, response["Attributes"])

    def mail_sent(self, account_id: str, day: str) -> int:
        """Recipients e-mailed on `day` (YYYY-MM-DD, UTC)."""
        item = self.table.get_item(Key={PK: account_partition(account_id), SK: f"MAILDAY#{day}"}).get("Item") or {}
        return int(str(item.get("sent", 0)))

    def take_mail_quota(self, account_id: str, day: str, recipients: int, per_day: int) -> bool:
        """Count `recipients` against the day's quota, atomically; False (nothing counted)
        when they would go over it."""
        if recipients > per_day:
            return False
        try:
            self.table.update_item(
                Key={PK: account_partition(account_id), SK: f"MAILDAY#{day}"},
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
        key = {PK: account_partition(account_id), SK: f"EMAIL#{email.casefold()}"}
        return "Item" in self.table.get_item(Key=key)

    def get_user(self, account_id: str, user_id: str) -> User:
        item = self.table.get_item(Key={PK: account_partition(account_id), SK: f"USER#{user_id}"}).get("Item")
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
                        "Item": item_of(principal, **{PK: f"TOKEN#{token_hash}", SK: "TOKEN"}),
                    }
                },
                {
                    "Put": {
                        "TableName": self.table.name,
                        "Item": item_of(
                            record, **{PK: account_partition(record.account_id), SK: f"TOKENREF#{record.token_id}"}
                        ),
                    }
                },
            ]
        )

    def get_token(self, account_id: str, token_id: str) -> TokenRecord:
        item = self.table.get_item(Key={PK: account_partition(account_id), SK: f"TOKENREF#{token_id}"}).get("Item")
        if item is None:
            raise NotFound("Token not found", {"token_id": [f"no key {token_id!r} in this account"]})
        return record_of(TokenRecord, item)

    def delete_token(self, record: TokenRecord) -> None:
        self._transact(
            [
                {"Delete": {"TableName": self.table.name, "Key": {PK: f"TOKEN#{record.token_hash}", SK: "TOKEN"}}},
                {
                    "Delete": {
                        "TableName": self.table.name,
                        "Key": {PK: account_partition(record.account_id), SK: f"TOKENREF#{record.token_id}"},
                    }
                },
            ]
        )

    def principal_for_token_hash(self, token_hash: str) -> Principal | None:
        item = self.table.get_item(Key={PK: f"TOKEN#{token_hash}", SK: "TOKEN"}).get("Item")
        return None if item is None else record_of(Principal, item)

    # ---- assets ----------------------------------------------------------------------
