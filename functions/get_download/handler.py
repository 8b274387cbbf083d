"""GET /api/v1/downloads/{download_id} — state, progress and links; ETag and 304; while it is
being packaged, Retry-After says when to ask again."""

from aws_lambda_powertools.event_handler import Response

from carton.downloads.api import DownloadOut
from carton.downloads.service import readable_download
from carton.store import Store
from carton.web.http import api_handler, api_resolver, base_url, principal, route_of
from carton.web.responses import cacheable_response, documented

app = api_resolver()


@app.get(
    route_of("get_download").resolver_path,
    responses={
        **documented(200, DownloadOut, "The download, with ETag and Last-Modified"),
        **documented(304, None, "Not modified since the client's copy (If-None-Match, If-Modified-Since)"),
    },
)
def get_download(download_id: str) -> Response[str]:
    download = readable_download(principal(app), download_id, Store())
    shown = DownloadOut.of(download, base_url(app))
    poll = shown.poll_after()
    extra = {"Retry-After": str(poll)} if poll is not None else None
    return cacheable_response(app, shown.model_dump(mode="json"), download.updated_at, extra)


lambda_handler = api_handler(app)
