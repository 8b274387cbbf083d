"""Workflow step 'complete': finish the upload, check it against the plan, mark it complete."""

from typing import Any

from carton.packaging import steps as workflow
from carton.shared.errors import retried_by_the_workflow
from carton.shared.observability import entrypoint
from carton.store import Store


def complete(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return workflow.complete(event["account_id"], event["download_id"], Store())


lambda_handler = entrypoint(retried_by_the_workflow(complete))
