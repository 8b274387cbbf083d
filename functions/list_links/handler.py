"""GET /api/v1/downloads/{download_id}/links — the download's share links: expiry, uses,
whether revoked (never their tokens)."""

from aws_lambda_powertools.event_handler import Response

from carton.sharing.api import LinkList, LinkOut
from carton.sharing.service import list_links
from carton.store import Store
from carton.web.http import api_handler, api_resolver, base_url, principal, route_of
from carton.web.responses import documented, json_response

app = api_resolver()


@app.get(route_of("list_links").resolver_path, responses=documented(200, LinkList, "Every link of the download"))
def links(download_id: str) -> Response[str]:
    found = [LinkOut.of(link, base_url(app)) for link in list_links(principal(app), download_id, Store())]
    body = LinkList(count=len(found), next=None, previous=None, results=found)
    return json_response(200, body.model_dump(mode="json"))


lambda_handler = api_handler(app)
