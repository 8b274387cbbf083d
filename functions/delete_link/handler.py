"""DELETE /api/v1/downloads/{download_id}/links/{link_id} — revoke a share link: from then
on it answers 410. 204."""

from aws_lambda_powertools.event_handler import Response

from carton.sharing.service import revoke_link
from carton.store import Store
from carton.web.http import api_handler, api_resolver, principal, route_of
from carton.web.responses import documented, no_content

app = api_resolver()


@app.delete(route_of("delete_link", "DELETE").resolver_path, responses=documented(204, None, "Revoked"))
def delete(download_id: str, link_id: str) -> Response[str]:
    revoke_link(principal(app), download_id, link_id, Store())
    return no_content()


lambda_handler = api_handler(app)
