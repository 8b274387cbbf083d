"""GET /api/v1/downloads/{download_id}/download and /file — 302 to a presigned GET."""

from aws_lambda_powertools.event_handler import Response

from carton.downloads.service import archive_link
from carton.store import Store
from carton.web.http import api_handler, api_resolver, principal
from carton.web.responses import documented, redirect
from carton.web.routes import routes_of

app = api_resolver()


def archive_redirect(download_id: str) -> Response[str]:
    return redirect(archive_link(principal(app), download_id, Store()))


for route in routes_of("download_file"):
    app.route(
        route.resolver_path,
        method=route.method,
        responses=documented(302, None, "Location: a presigned GET of the archive, valid 15 minutes"),
    )(archive_redirect)

lambda_handler = api_handler(app)
