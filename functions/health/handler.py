"""GET /api/v1/health — liveness, no authentication."""

from carton.web.http import api_handler, api_resolver, route_of

app = api_resolver()


@app.get(route_of("health").resolver_path)
def health() -> dict[str, str]:
    return {"status": "ok"}


lambda_handler = api_handler(app)
