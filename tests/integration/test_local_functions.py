"""The local stack runs many invocations of the functions at once in one process, which
Lambda never does: each invocation must see its own event, whatever runs beside it."""

from __future__ import annotations

import sys
import threading
from typing import Any

from tests.integration.conftest import Carton, load_event

ROUNDS = 60


def get_asset_event(asset_id: str) -> dict[str, Any]:
    event = load_event("api/create_download")
    path = f"/api/v1/assets/{asset_id}"
    event.update(
        httpMethod="GET", path=path, resource="/api/v1/assets/{key}", pathParameters={"key": asset_id}, body=None
    )
    return event


def test_concurrent_invocations_each_answer_their_own_request(carton: Carton) -> None:
    """Powertools keeps the current event on its router *class* (one invocation per process
    on Lambda): without carton_local.lambdas' fix, a request is answered with another's."""
    wrong: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def ask(asset_id: str) -> None:
        start.wait()
        try:
            for _ in range(ROUNDS):
                status, _, body = carton.api("get_asset", get_asset_event(asset_id))
                if status != 200 or body["key"] != asset_id:
                    wrong.append(f"asked {asset_id}, got {status} {body.get('key', body)}")
        except BaseException as error:
            errors.append(error)

    threads = [
        threading.Thread(target=ask, args=(asset_id,))
        for asset_id in ("demo-readme", "demo-logo", "demo-report", "demo-photo") * 2
    ]
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads take turns often, as with more clients or a slower machine
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        sys.setswitchinterval(previous)
    assert not errors and not wrong, (errors[:2], wrong[:5], len(wrong))
