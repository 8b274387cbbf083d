"""POST /api/v1/account/users (admins) — 201 with Location."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body

from carton.accounts.api import CreateUserRequest, UserOut
from carton.accounts.service import create_user
from carton.store import Store
from carton.web.http import api_handler, api_resolver, base_url, principal, route_of
from carton.web.responses import documented, json_response

app = api_resolver()
EXAMPLES = {
    "member": Example(summary="A member", value={"email": "someone@example.com", "role": "member"}),
}


@app.post(route_of("create_user", "POST").resolver_path, responses=documented(201, UserOut, "The user"))
def create(request: Annotated[CreateUserRequest, Body(openapi_examples=EXAMPLES)]) -> Response[str]:
    body = UserOut.of(create_user(principal(app), request, Store()), base_url(app))
    return json_response(201, body.model_dump(mode="json"), {"Location": body.url})


lambda_handler = api_handler(app)
