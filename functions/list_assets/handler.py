"""GET /api/v1/assets — newest first; filters batch=, media_type=, tag=; cursor + limit (≤ 1000)."""

from aws_lambda_powertools.event_handler import Response

from carton.assets import list_assets, representation
from carton.config import settings
from carton.http import (
    api_handler,
    api_resolver,
    base_url,
    documented,
    json_response,
    principal,
    query_parameters,
    route_of,
)
from carton.models import AssetList
from carton.store import Store

app = api_resolver()


@app.get(route_of("list_assets").resolver_path, responses=documented(200, AssetList, "A page of assets"))
def assets() -> Response[str]:
    base = base_url(app)
    body, found = list_assets(
        principal(app), query_parameters(app), Store(), settings().cursor_key, base + app.current_event.path
    )
    body["results"] = [representation(asset, base).model_dump(mode="json") for asset in found]
    return json_response(200, body)


lambda_handler = api_handler(app)
