"""DELETE /api/v1/assets/{key} — 204; afterwards the key answers 410 GONE."""

from aws_lambda_powertools.event_handler import Response

from carton.assets.service import delete_asset
from carton.shared.errors import Gone
from carton.store import Store
from carton.web.http import api_handler, api_resolver, principal, route_of
from carton.web.responses import documented, no_content

app = api_resolver()


@app.delete(route_of("delete_asset", "DELETE").resolver_path, responses=documented(204, None, "Deleted"))
def delete(key: str) -> Response[str]:
    delete_asset(principal(app), key, Store())
    return no_content()


lambda_handler = api_handler(app, unknown=Gone)  # an unknown key is gone
