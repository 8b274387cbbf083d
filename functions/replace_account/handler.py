"""PUT /api/v1/account (admins) — replace the account's settings (notify_domains)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body

from carton.accounts.api import AccountOut, AccountSettings
from carton.accounts.service import account_representation, replace_settings
from carton.store import Store
from carton.web.http import api_handler, api_resolver, base_url, principal, route_of
from carton.web.responses import documented, json_response

app = api_resolver()
EXAMPLES = {
    "partner": Example(
        summary="Notifications may also go to one partner's domain", value={"notify_domains": ["partner.example"]}
    ),
}


@app.put(route_of("replace_account", "PUT").resolver_path, responses=documented(200, AccountOut, "The account"))
def replace(request: Annotated[AccountSettings, Body(openapi_examples=EXAMPLES)]) -> Response[str]:
    store = Store()
    account = replace_settings(principal(app), request, store)
    return json_response(200, account_representation(account, base_url(app), store).model_dump(mode="json"))


lambda_handler = api_handler(app)
