"""POST /api/v1/account/tokens (admins) — a new API key; its secret is shown this once."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body

from carton.accounts.api import CreateTokenRequest, TokenOut
from carton.accounts.service import create_token
from carton.store import Store
from carton.web.http import api_handler, api_resolver, base_url, principal, route_of
from carton.web.responses import documented, json_response

app = api_resolver()
EXAMPLES = {
    "limited": Example(
        summary="A key for CI, limited to archives", value={"name": "CI", "download_types": ["archive"]}
    ),
}


@app.post(
    route_of("create_token", "POST").resolver_path,
    responses=documented(201, TokenOut, "The key and its secret (shown once)"),
)
def create(request: Annotated[CreateTokenRequest, Body(openapi_examples=EXAMPLES)]) -> Response[str]:
    record, secret = create_token(principal(app), request, Store())
    body = TokenOut.of(record, base_url(app), secret)
    return json_response(201, body.model_dump(mode="json"), {"Location": body.url, "Cache-Control": "no-store"})


lambda_handler = api_handler(app)
