"""POST /api/v1/assets — import from an https URL or base64; 201 new, 200 the original for the same bytes."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from carton.assets import import_asset, representation
from carton.http import api_handler, api_resolver, base_url, documented, json_response, principal, route_of
from carton.models import AssetOut, ImportAssetRequest
from carton.store import Store

app = api_resolver()


@app.post(route_of("import_asset", "POST").resolver_path, responses=documented(201, AssetOut, "A new asset"))
def create(request: Annotated[ImportAssetRequest, Body()]) -> Response[str]:
    asset, created = import_asset(principal(app), request, Store())
    body = representation(asset, base_url(app))
    return json_response(201 if created else 200, body.model_dump(mode="json"), {"Location": body.url})


lambda_handler = api_handler(app)
