"""GET /api/v1/downloads/{download_id}/targets — what went (or goes) into the archive."""

from aws_lambda_powertools.event_handler import Response

from carton.downloads.api import TargetList, TargetOut
from carton.downloads.listing import list_targets
from carton.downloads.service import readable_download
from carton.store import Store
from carton.web.http import api_handler, api_resolver, list_call, route_of
from carton.web.responses import documented, page_response

app = api_resolver()


@app.get(route_of("list_targets").resolver_path, responses=documented(200, TargetList, "A page of targets"))
def targets(download_id: str) -> Response[str]:
    call, store = list_call(app), Store()
    download = readable_download(call.principal, download_id, store)
    body, found = list_targets(download, call.parameters, store, call.cursor_key, call.url)
    return page_response(body, found, lambda target: TargetOut.of(target, call.base))


lambda_handler = api_handler(app)
