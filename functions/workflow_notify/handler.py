"""Workflow step: e-mail, webhook and EventBridge event once a download completed or failed."""

from typing import Any

from carton.downloads.notifications import notify
from carton.shared.errors import retried_by_the_workflow
from carton.shared.observability import entrypoint
from carton.store import Store


def announce(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return notify(event["account_id"], event["download_id"], event["event"], Store())


lambda_handler = entrypoint(retried_by_the_workflow(announce))
