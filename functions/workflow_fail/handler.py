"""Workflow catch-all: abort the upload and record why the download failed."""

from typing import Any

from carton.packaging import steps as workflow
from carton.shared.errors import retried_by_the_workflow
from carton.shared.observability import entrypoint
from carton.store import Store


def fail(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return workflow.fail(event["account_id"], event["download_id"], event.get("error") or {}, Store())


lambda_handler = entrypoint(retried_by_the_workflow(fail))
