"""GET /api/v1/docs — Swagger UI over the OpenAPI document (local stack only)."""

from aws_lambda_powertools.event_handler import Response, content_types

from carton.http import api_handler, api_resolver, route_of
from carton.routes import API_PREFIX

app = api_resolver()

PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Carton API</title>
<link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{url: "{API_PREFIX}/openapi.json", dom_id: "#ui"}});</script>
</body></html>"""


@app.get(route_of("local_docs").resolver_path)
def docs() -> Response[str]:
    return Response(status_code=200, content_type=content_types.TEXT_HTML, body=PAGE)


lambda_handler = api_handler(app)
