"""GET /api/v1/assets/{key}/downloads — the downloads that contain the asset (GET /downloads?uid=key)."""

from aws_lambda_powertools.event_handler import Response

from carton.assets import live_asset
from carton.config import settings
from carton.download_list import list_downloads
from carton.downloads import representation
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
from carton.models import DownloadList
from carton.store import Store

app = api_resolver()


@app.get(route_of("asset_downloads").resolver_path, responses=documented(200, DownloadList, "Downloads with it"))
def downloads(key: str) -> Response[str]:
    caller, store, base = principal(app), Store(), base_url(app)
    live_asset(caller, key, store)
    parameters = {**query_parameters(app), "uid": key}
    body, found, _ = list_downloads(caller, parameters, store, settings().cursor_key, base + app.current_event.path)
    body["results"] = [representation(download, base).model_dump(mode="json") for download in found]
    return json_response(200, body)


lambda_handler = api_handler(app)
