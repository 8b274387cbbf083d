"""POST /api/v1/downloads/{download_id}/links (its creator, or an admin) — a link to the
finished archive that needs no key; the link is shown this once. `{}` takes the defaults."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body

from carton.sharing.api import CreateLinkRequest, LinkOut
from carton.sharing.service import create_link
from carton.store import Store
from carton.web.http import api_handler, api_resolver, base_url, principal, route_of
from carton.web.responses import documented, json_response

app = api_resolver()
EXAMPLES = {"three_days": Example(summary="A link for three days", value={"expires_in_days": 3})}


@app.post(
    route_of("create_link", "POST").resolver_path,
    responses=documented(201, LinkOut, "The link (its shared_url shown once)"),
)
def create(download_id: str, request: Annotated[CreateLinkRequest, Body(openapi_examples=EXAMPLES)]) -> Response[str]:
    link, token = create_link(principal(app), download_id, request, Store(), base_url(app))
    body = LinkOut.of(link, base_url(app), token)
    return json_response(201, body.model_dump(mode="json"), {"Location": body.url, "Cache-Control": "no-store"})


lambda_handler = api_handler(app)
