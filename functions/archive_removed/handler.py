"""S3 ObjectRemoved / LifecycleExpiration under archives/ (via SQS) → download expired."""

from typing import Any

from carton.feeds import process_s3_feed
from carton.observability import entrypoint
from carton.store import Store
from carton.workflow import archive_removed


def expire(event: dict[str, Any], context: Any) -> dict[str, Any]:
    store = Store()
    return process_s3_feed(event, context, lambda key: archive_removed(key, store))


lambda_handler = entrypoint(expire)
