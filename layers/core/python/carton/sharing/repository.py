"""Share links in the table: each under its token's hash, with a reference in its
download's partition."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from carton.downloads.items import DELETING_FIELD, NOT_DELETING
from carton.shared.errors import Conflict, NotFound
from carton.shared.fields import utcnow
from carton.sharing.models import ShareLink
from carton.storage.keys import LINK_PREFIX, download_key, link_ref_key, share_key, targets_partition
from carton.storage.table import PK, SK, TableLayer, dynamo_value, failed_condition, item_of, record_of, refused_as

LINK_NOT_FOUND = NotFound("Link not found", {"link_id": ["no such link of this download"]})


class LinkRecords(TableLayer):
    def put_link(self, link: ShareLink) -> None:
        ref = {**link_ref_key(link.account_id, link.download_id, link.link_id), "token_hash": link.token_hash}
        refused = Conflict("The download is not complete, or is being deleted", {"state": ["no link can be made"]})
        with refused_as(refused):
            self._transact(
                [
                    {
                        "Put": {
                            "TableName": self.table.name,
                            "Item": item_of(link, **share_key(link.token_hash)),
                            "ConditionExpression": f"attribute_not_exists({PK})",
                        }
                    },
                    {"Put": {"TableName": self.table.name, "Item": ref}},
                    {
                        # A DELETE that began meanwhile would leave the link behind it: refuse.
                        "ConditionCheck": {
                            "TableName": self.table.name,
                            "Key": download_key(link.account_id, link.download_id),
                            "ConditionExpression": f"#state = :complete AND {NOT_DELETING}",
                            "ExpressionAttributeNames": {"#state": "state", "#deleting": DELETING_FIELD},
                            "ExpressionAttributeValues": {":complete": "complete", ":null": "NULL"},
                        }
                    },
                ]
            )

    def link_by_hash(self, token_hash: str) -> ShareLink | None:
        item = self.table.get_item(Key=share_key(token_hash), ConsistentRead=True).get("Item")
        return None if item is None else record_of(ShareLink, item)

    def _link_refs(self, account_id: str, download_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        query: dict[str, Any] = {
            "KeyConditionExpression": Key(PK).eq(targets_partition(account_id, download_id))
            & Key(SK).begins_with(LINK_PREFIX)
        }
        while True:
            response = self.table.query(**query)
            found.extend(response["Items"])
            if "LastEvaluatedKey" not in response:
                return found
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def links_of(self, account_id: str, download_id: str) -> list[ShareLink]:
        """The download's links, oldest first."""
        keys = [share_key(str(ref["token_hash"])) for ref in self._link_refs(account_id, download_id)]
        links = [record_of(ShareLink, item) for item in self.batch_get(keys)]
        return sorted(links, key=lambda link: (link.created_at, link.link_id))

    def revoke_link(self, account_id: str, download_id: str, link_id: str) -> ShareLink:
        """Mark the link revoked (once: revoking again changes nothing)."""
        ref = self.table.get_item(Key=link_ref_key(account_id, download_id, link_id), ConsistentRead=True).get("Item")
        if ref is None:
            raise LINK_NOT_FOUND
        key = share_key(str(ref["token_hash"]))
        try:
            updated = self.table.update_item(
                Key=key,
                UpdateExpression="SET revoked_at = :now",
                # Stored as NULL until it is revoked.
                ConditionExpression=f"attribute_exists({PK}) AND "
                "(attribute_not_exists(revoked_at) OR attribute_type(revoked_at, :null))",
                ExpressionAttributeValues={":now": dynamo_value(utcnow()), ":null": "NULL"},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if not failed_condition(error):
                raise
            current = self.link_by_hash(str(ref["token_hash"]))
            if current is None:
                raise LINK_NOT_FOUND from None
            if current.revoked_at is None:  # refused for another reason: never answer "revoked"
                raise
            return current
        return record_of(ShareLink, updated["Attributes"])

    def count_use(self, link: ShareLink) -> None:
        with refused_as(LINK_NOT_FOUND):  # removed with its download meanwhile
            self.table.update_item(
                Key=share_key(link.token_hash),
                UpdateExpression="ADD uses :one",
                ConditionExpression=f"attribute_exists({PK})",
                ExpressionAttributeValues={":one": 1},
            )

    def delete_links(self, account_id: str, download_id: str) -> None:
        """Every link of the download, and its references (with the download)."""
        with self.table.batch_writer() as batch:
            for ref in self._link_refs(account_id, download_id):
                batch.delete_item(Key=share_key(str(ref["token_hash"])))
                batch.delete_item(Key={PK: ref[PK], SK: ref[SK]})
