"""DELETE /api/v1/downloads/{download_id} — stop, forget, remove the archive. 204."""

from aws_lambda_powertools.event_handler import Response

from carton.downloads.service import delete_download
from carton.store import Store
from carton.web.http import api_handler, api_resolver, principal, route_of
from carton.web.responses import documented, no_content

app = api_resolver()


@app.delete(route_of("delete_download", "DELETE").resolver_path, responses=documented(204, None, "Deleted"))
def delete(download_id: str) -> Response[str]:
    delete_download(principal(app), download_id, Store())
    return no_content()


lambda_handler = api_handler(app)
