"""Workflow step 'prepare': assets, renditions, checks, the archive plan and its upload."""

from typing import Any

from carton.packaging import steps as workflow
from carton.shared.errors import retried_by_the_workflow
from carton.shared.observability import entrypoint
from carton.store import Store


def prepare(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return workflow.prepare(event["account_id"], event["download_id"], Store())


lambda_handler = entrypoint(retried_by_the_workflow(prepare))
