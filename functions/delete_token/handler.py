"""DELETE /api/v1/account/tokens/{token_id} (admins) — revoke a key. 204.

The authorizer caches answers for a minute (infra.api.AUTHORIZER_CACHE_SECONDS), so a
revoked key may work for up to that long."""

from aws_lambda_powertools.event_handler import Response

from carton.accounts.service import delete_token
from carton.store import Store
from carton.web.http import api_handler, api_resolver, principal, route_of
from carton.web.responses import documented, no_content

app = api_resolver()


@app.delete(route_of("delete_token", "DELETE").resolver_path, responses=documented(204, None, "Revoked"))
def delete(token_id: str) -> Response[str]:
    delete_token(principal(app), token_id, Store())
    return no_content()


lambda_handler = api_handler(app)
