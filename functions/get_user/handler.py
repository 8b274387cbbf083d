"""GET /api/v1/account/users/{user_id}."""

from aws_lambda_powertools.event_handler import Response

from carton.accounts.api import UserOut
from carton.accounts.service import visible_user
from carton.store import Store
from carton.web.http import api_handler, api_resolver, base_url, principal, route_of
from carton.web.responses import documented, json_response

app = api_resolver()


@app.get(route_of("get_user").resolver_path, responses=documented(200, UserOut, "The user"))
def user(user_id: str) -> Response[str]:
    found = visible_user(principal(app), user_id, Store())
    return json_response(200, UserOut.of(found, base_url(app)).model_dump(mode="json"))


lambda_handler = api_handler(app)
