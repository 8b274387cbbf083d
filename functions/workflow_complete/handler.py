"""Workflow step 'complete' (see infra/workflow.asl.json)."""

from typing import Any

from carton import workflow
from carton.observability import entrypoint
from carton.store import Store


def complete(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return workflow.complete(**event, store=Store())


lambda_handler = entrypoint(complete)
