"""GET /api/v1/downloads/{download_id}/targets — what went (or goes) into the archive."""

from aws_lambda_powertools.event_handler import Response

from carton.config import settings
from carton.download_list import list_targets
from carton.downloads import readable_download, target_representation
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
from carton.models import TargetList
from carton.routes import API_PREFIX
from carton.store import Store

app = api_resolver()


@app.get(route_of("list_targets").resolver_path, responses=documented(200, TargetList, "A page of targets"))
def targets(download_id: str) -> Response[str]:
    store, base = Store(), base_url(app)
    download = readable_download(principal(app), download_id, store)
    url = f"{base}{API_PREFIX}/downloads/{download_id}"
    body, found = list_targets(download, query_parameters(app), store, settings().cursor_key, f"{url}/targets")
    body["results"] = [target_representation(target, url).model_dump(mode="json") for target in found]
    return json_response(200, body)


lambda_handler = api_handler(app)
