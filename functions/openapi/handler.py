"""GET /api/v1/openapi.json — the OpenAPI 3 document of this API (no key needed)."""

import json
from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import Response

from carton.web.http import api_handler, api_resolver, route_of
from carton.web.openapi import build_document
from carton.web.responses import json_response

app = api_resolver()
HERE = Path(__file__).resolve().parent
BUNDLED = HERE / "openapi.json"  # written by the CDK bundling of this function


@cache
def document() -> dict[str, Any]:
    if BUNDLED.exists():
        loaded: dict[str, Any] = json.loads(BUNDLED.read_text())
        return loaded
    return build_document(HERE.parent)  # the local stack: every function is beside this one


@app.get(route_of("openapi").resolver_path)
def openapi() -> Response[str]:
    return json_response(200, document(), {"Cache-Control": "public, max-age=300"})


lambda_handler = api_handler(app)
