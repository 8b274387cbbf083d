"""GET /api/v1/shared/{token} — no key: a share link opens its archive with a 302 to a
presigned GET (each use counted); 410 once it was revoked or expired."""

from aws_lambda_powertools.event_handler import Response

from carton.sharing.service import open_link
from carton.store import Store
from carton.web.http import api_handler, api_resolver, route_of
from carton.web.responses import documented, redirect

app = api_resolver()


@app.get(
    route_of("open_shared_link").resolver_path,
    responses=documented(302, None, "Location: a presigned GET of the archive, valid 15 minutes"),
)
def shared(token: str) -> Response[str]:
    return redirect(open_link(token, Store()))


lambda_handler = api_handler(app)
