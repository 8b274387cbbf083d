"""Workflow step 'prepare' (see infra/workflow.asl.json)."""

from typing import Any

from carton import workflow
from carton.observability import entrypoint
from carton.store import Store


def prepare(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return workflow.prepare(**event, store=Store())


lambda_handler = entrypoint(prepare)
