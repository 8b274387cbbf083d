"""GET /api/v1/downloads — filtered, ordered, paged; members see their own."""

from aws_lambda_powertools.event_handler import Response

from carton.downloads.api import DownloadList, DownloadOut
from carton.downloads.listing import list_downloads
from carton.store import Store
from carton.web.http import api_handler, api_resolver, list_call, route_of
from carton.web.responses import documented, page_response

app = api_resolver()


@app.get(route_of("list_downloads").resolver_path, responses=documented(200, DownloadList, "A page of downloads"))
def downloads() -> Response[str]:
    call = list_call(app)
    body, found, _ = list_downloads(call.principal, call.parameters, Store(), call.cursor_key, call.url)
    return page_response(body, found, lambda download: DownloadOut.of(download, call.base))


lambda_handler = api_handler(app)
