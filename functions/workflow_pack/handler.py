"""Workflow worker (one iteration of the Pack map): upload one group of the archive's parts."""

from typing import Any

from carton.packaging import steps as workflow
from carton.shared.errors import retried_by_the_workflow
from carton.shared.observability import entrypoint
from carton.store import Store


def pack(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return workflow.pack(event["account_id"], event["download_id"], int(event["first"]), int(event["last"]), Store())


lambda_handler = entrypoint(retried_by_the_workflow(pack))
