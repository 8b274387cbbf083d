"""POST /api/v1/assets — import from an https URL or base64; 201 new, 200 the original for the same bytes."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body

from carton.assets.api import AssetOut, ImportAssetRequest
from carton.assets.service import import_asset
from carton.store import Store
from carton.web.http import api_handler, api_resolver, base_url, principal, route_of
from carton.web.responses import documented, json_response

app = api_resolver()
EXAMPLES = {
    "base64": Example(
        summary="A small text file, as base64",
        value={"art": "SGVsbG8gZnJvbSBDYXJ0b24uCg==", "content_type": "text/plain", "filename": "hello.txt"},
    ),
}


@app.post(
    route_of("import_asset", "POST").resolver_path,
    responses={
        **documented(201, AssetOut, "A new asset"),
        **documented(200, AssetOut, "The same bytes were imported before: the original (updated with update: true)"),
    },
)
def create(request: Annotated[ImportAssetRequest, Body(openapi_examples=EXAMPLES)]) -> Response[str]:
    asset, created = import_asset(principal(app), request, Store())
    body = AssetOut.of(asset, base_url(app))
    return json_response(201 if created else 200, body.model_dump(mode="json"), {"Location": body.url})


lambda_handler = api_handler(app)
