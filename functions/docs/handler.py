"""GET /api/v1/docs — Swagger UI over the OpenAPI document, from the copy Powertools ships:
nothing is loaded from a CDN, so the page works offline (local stack) and behind any
firewall (deployed with the context switch docs=on)."""

from functools import cache
from pathlib import Path

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi import swagger_ui

from carton.web.http import api_handler, api_resolver, route_of

app = api_resolver()
ASSETS = Path(swagger_ui.__file__).parent
# Relative: the document sits beside this page under any stage or base path.
DOCUMENT = "openapi.json"
# A bare key pasted into Authorize gets the scheme Carton expects ("Token <key>").
ADD_KEY_SCHEME = """(request) => {
  const key = request.headers.Authorization;
  if (key && !/^(Token|Bearer) /.test(key)) request.headers.Authorization = "Token " + key;
  return request;
}"""


@cache
def page() -> str:
    script = (ASSETS / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
    style = (ASSETS / "swagger-ui.min.css").read_text(encoding="utf-8")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Carton API</title>
<style>{style}</style></head>
<body><div id="ui"></div>
<script>{script}</script>
<script>
SwaggerUIBundle({{
  url: "{DOCUMENT}", dom_id: "#ui", deepLinking: true, persistAuthorization: true,
  tryItOutEnabled: true, displayRequestDuration: true,
  requestInterceptor: {ADD_KEY_SCHEME},
}});
</script>
</body></html>"""


@app.get(route_of("docs").resolver_path)
def docs() -> Response[str]:
    return Response(
        status_code=200,
        content_type=content_types.TEXT_HTML,
        body=page(),
        headers={"Cache-Control": "public, max-age=300"},
    )


lambda_handler = api_handler(app)
