"""GET /api/v1/account — the caller's account: its settings and today's e-mail count."""

from aws_lambda_powertools.event_handler import Response

from carton.accounts.api import AccountOut
from carton.accounts.service import account_representation
from carton.store import Store
from carton.web.http import api_handler, api_resolver, base_url, principal, route_of
from carton.web.responses import documented, json_response

app = api_resolver()


@app.get(route_of("get_account").resolver_path, responses=documented(200, AccountOut, "The account"))
def account() -> Response[str]:
    store = Store()
    found = store.get_account(principal(app).account_id)
    return json_response(200, account_representation(found, base_url(app), store).model_dump(mode="json"))


lambda_handler = api_handler(app)
