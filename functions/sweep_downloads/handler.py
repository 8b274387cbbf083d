"""On a schedule (EventBridge on AWS, a timer locally): finish downloads that did not end
as they should (carton.downloads.sweeper)."""

from typing import Any

from carton.downloads import sweeper
from carton.shared.observability import entrypoint
from carton.store import Store


def sweep(event: dict[str, Any], context: Any) -> dict[str, int]:
    return sweeper.sweep(Store())


lambda_handler = entrypoint(sweep)
