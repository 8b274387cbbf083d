"""GET /api/v1/assets — newest first; filters batch=, media_type=, tag=; cursor + limit (≤ 1000)."""

from aws_lambda_powertools.event_handler import Response

from carton.assets.api import AssetList, AssetOut
from carton.assets.listing import list_assets
from carton.store import Store
from carton.web.http import api_handler, api_resolver, list_call, route_of
from carton.web.responses import documented, page_response

app = api_resolver()


@app.get(route_of("list_assets").resolver_path, responses=documented(200, AssetList, "A page of assets"))
def assets() -> Response[str]:
    call = list_call(app)
    body, found = list_assets(call.principal, call.parameters, Store(), call.cursor_key, call.url)
    return page_response(body, found, lambda asset: AssetOut.of(asset, call.base))


lambda_handler = api_handler(app)
