"""GET /api/v1/downloads/{download_id}/targets/{asset_id} — one asset's place in the archive."""

from aws_lambda_powertools.event_handler import Response

from carton.downloads.api import TargetOut
from carton.downloads.service import readable_download
from carton.store import Store
from carton.web.http import api_handler, api_resolver, base_url, principal, route_of
from carton.web.responses import documented, json_response

app = api_resolver()


@app.get(route_of("get_target").resolver_path, responses=documented(200, TargetOut, "The asset's place in the archive"))
def target(download_id: str, asset_id: str) -> Response[str]:
    store = Store()
    download = readable_download(principal(app), download_id, store)
    found = store.get_target(download.account_id, download_id, asset_id)
    return json_response(200, TargetOut.of(found, base_url(app)).model_dump(mode="json"))


lambda_handler = api_handler(app)
