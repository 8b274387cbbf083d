"""GET /api/v1/assets/{key} — 410 GONE for a deleted or unknown key."""

from aws_lambda_powertools.event_handler import Response

from carton.assets.api import AssetOut
from carton.assets.service import live_asset
from carton.shared.errors import Gone
from carton.store import Store
from carton.web.http import api_handler, api_resolver, base_url, principal, route_of
from carton.web.responses import cacheable_response, documented

app = api_resolver()


@app.get(
    route_of("get_asset").resolver_path,
    responses={
        **documented(200, AssetOut, "The asset, with ETag and Last-Modified"),
        **documented(304, None, "Not modified since the client's copy (If-None-Match, If-Modified-Since)"),
    },
)
def asset(key: str) -> Response[str]:
    found = live_asset(principal(app), key, Store())
    return cacheable_response(app, AssetOut.of(found, base_url(app)).model_dump(mode="json"), found.updated_at)


lambda_handler = api_handler(app, unknown=Gone)  # an unknown key is gone
