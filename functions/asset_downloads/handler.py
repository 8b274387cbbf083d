"""GET /api/v1/assets/{key}/downloads — the downloads that contain the asset (GET /downloads?uid=key)."""

from aws_lambda_powertools.event_handler import Response

from carton.assets.service import live_asset
from carton.downloads.api import DownloadList, DownloadOut
from carton.downloads.listing import list_downloads
from carton.shared.errors import Gone
from carton.store import Store
from carton.web.http import api_handler, api_resolver, list_call, route_of
from carton.web.responses import documented, page_response

app = api_resolver()


@app.get(route_of("asset_downloads").resolver_path, responses=documented(200, DownloadList, "Downloads with it"))
def downloads(key: str) -> Response[str]:
    call, store = list_call(app), Store()
    live_asset(call.principal, key, store)
    parameters = {**call.parameters, "uid": key}
    body, found, _ = list_downloads(call.principal, parameters, store, call.cursor_key, call.url)
    return page_response(body, found, lambda download: DownloadOut.of(download, call.base))


lambda_handler = api_handler(app, unknown=Gone)  # an unknown key is gone
