"""EventBridge "Step Functions Execution Status Change" for the packaging workflow: an
execution that failed, timed out or was stopped never leaves its download packaging."""

from typing import Any

from carton.packaging import steps as workflow
from carton.shared.observability import entrypoint
from carton.store import Store


def ended(event: dict[str, Any], context: Any) -> dict[str, Any] | None:
    return workflow.execution_ended(event.get("detail") or {}, Store())


lambda_handler = entrypoint(ended)
