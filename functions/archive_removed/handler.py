"""S3 ObjectRemoved / LifecycleExpiration under archives/ (via SQS) → download expired."""

from typing import Any

from carton.downloads.expiry import archive_removed
from carton.shared.feeds import process_s3_feed
from carton.shared.observability import entrypoint
from carton.store import Store


def expire(event: dict[str, Any], context: Any) -> dict[str, Any]:
    store = Store()
    return process_s3_feed(event, context, lambda key: archive_removed(key, store))


lambda_handler = entrypoint(expire)
