"""Workflow step 'package' (see infra/workflow.asl.json)."""

from typing import Any

from carton import workflow
from carton.observability import entrypoint
from carton.store import Store


def package(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return workflow.package(**event, store=Store())


lambda_handler = entrypoint(package)
