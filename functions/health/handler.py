"""GET /api/v1/health — liveness, no authentication."""

from carton.http import api_resolver, route_of
from carton.observability import entrypoint

app = api_resolver()


@app.get(route_of("health").resolver_path)
def health() -> dict[str, str]:
    return {"status": "ok"}


lambda_handler = entrypoint(app.resolve)
