"""GET /api/v1/account/users — the account's users (admins), or yourself (members)."""

from aws_lambda_powertools.event_handler import Response

from carton.accounts.api import UserList, UserOut
from carton.accounts.service import list_users
from carton.store import Store
from carton.web.http import api_handler, api_resolver, list_call, route_of
from carton.web.responses import documented, page_response

app = api_resolver()


@app.get(route_of("list_users").resolver_path, responses=documented(200, UserList, "A page of users"))
def users() -> Response[str]:
    call = list_call(app)
    body, found = list_users(call.principal, call.parameters, Store(), call.cursor_key, call.url)
    return page_response(body, found, lambda user: UserOut.of(user, call.base))


lambda_handler = api_handler(app)
