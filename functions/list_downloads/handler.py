"""GET /api/v1/downloads — filtered, ordered, paged; members see their own."""

from aws_lambda_powertools.event_handler import Response

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


@app.get(route_of("list_downloads").resolver_path, responses=documented(200, DownloadList, "A page of downloads"))
def downloads() -> Response[str]:
    base = base_url(app)
    body, found, _ = list_downloads(
        principal(app), query_parameters(app), Store(), settings().cursor_key, base + app.current_event.path
    )
    body["results"] = [representation(download, base).model_dump(mode="json") for download in found]
    return json_response(200, body)


lambda_handler = api_handler(app)
