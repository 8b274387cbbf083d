"""GET /api/v1/account/users — the account's users (admins), or yourself (members)."""

from aws_lambda_powertools.event_handler import Response

from carton.accounts import list_users, user_representation
from carton.config import settings
from carton.http import (
    api_handler,
    api_resolver,
    base_url,
    documented,
    json_response,
    principal,
    query_parameters,
    route_of,
)
from carton.models import UserList
from carton.store import Store

app = api_resolver()


@app.get(route_of("list_users").resolver_path, responses=documented(200, UserList, "A page of users"))
def users() -> Response[str]:
    base = base_url(app)
    body, found = list_users(
        principal(app), query_parameters(app), Store(), settings().cursor_key, base + app.current_event.path
    )
    body["results"] = [user_representation(user, base).model_dump(mode="json") for user in found]
    return json_response(200, body)


lambda_handler = api_handler(app)
