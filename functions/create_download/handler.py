"""POST /api/v1/downloads — record a download and start packaging it."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body

from carton.downloads.api import CreateDownloadRequest, DownloadOut
from carton.downloads.service import create_download_once
from carton.shared.observability import measure
from carton.store import Store
from carton.web.http import api_handler, api_resolver, base_url, principal, route_of
from carton.web.responses import documented, json_response

app = api_resolver()
# Shown by Swagger UI and sent by the fuzz test: accepted as is on the local stack (its demo assets).
EXAMPLES = {
    "folders": Example(
        summary="Three demo assets, each in its own folder",
        value={"asset_ids": ["demo-readme", "demo-logo", "demo-photo"], "name": "Spring campaign", "layout": "folders"},
    ),
}


@app.post(
    route_of("create_download", "POST").resolver_path,
    responses=documented(201, DownloadOut, "The download, pending"),
)
def create(request: Annotated[CreateDownloadRequest, Body(openapi_examples=EXAMPLES)]) -> Response[str]:
    key = app.current_event.headers.get("idempotency-key")
    download = create_download_once(principal(app), request, key, Store(), app.lambda_context)
    measure("DownloadsCreated")
    body = DownloadOut.of(download, base_url(app))
    return json_response(201, body.model_dump(mode="json"), {"Location": body.url})


lambda_handler = api_handler(app)
