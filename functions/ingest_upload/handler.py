"""S3 ObjectCreated under uploads/ (via SQS) → asset records."""

from typing import Any

from carton.assets.uploads import ingest_upload
from carton.shared.feeds import process_s3_feed
from carton.shared.observability import entrypoint
from carton.store import Store


def ingest(event: dict[str, Any], context: Any) -> dict[str, Any]:
    store = Store()
    return process_s3_feed(event, context, lambda key: ingest_upload(key, store))


lambda_handler = entrypoint(ingest)
