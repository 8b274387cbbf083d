"""The table layer's batch reads: keys DynamoDB leaves unprocessed are asked for again,
after a pause (its documentation asks BatchGetItem callers to back off)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from carton.storage import table as table_module
from carton.storage.table import TableLayer


class ThrottlingClient:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 (boto3's name)
        self.requests.append(RequestItems)
        keys = RequestItems["t"]["Keys"]
        if len(self.requests) == 1:  # the first answer leaves the second key unprocessed
            return {"Responses": {"t": [keys[0]]}, "UnprocessedKeys": {"t": {"Keys": keys[1:]}}}
        return {"Responses": {"t": keys}, "UnprocessedKeys": {}}


def test_unprocessed_keys_are_asked_for_again_after_a_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    client = ThrottlingClient()
    layer = TableLayer(SimpleNamespace(name="t", meta=SimpleNamespace(client=client)))  # type: ignore[arg-type]
    pauses: list[float] = []
    monkeypatch.setattr(table_module.time, "sleep", pauses.append)
    keys = [{"pk": "a", "sk": "1"}, {"pk": "a", "sk": "2"}]
    assert list(layer.batch_get(keys, consistent=True)) == keys
    assert [request["t"].get("ConsistentRead") for request in client.requests] == [True, None]
    assert len(pauses) == 1 and 0 <= pauses[0] <= 0.05
