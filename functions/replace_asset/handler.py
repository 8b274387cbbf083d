"""PUT /api/v1/assets/{key} — replace filename, translations, note and mature (all required)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body

from carton.assets.api import AssetOut, ReplaceAssetRequest
from carton.assets.service import replace_metadata
from carton.shared.errors import Gone
from carton.store import Store
from carton.web.http import api_handler, api_resolver, base_url, principal, route_of
from carton.web.responses import documented, json_response

app = api_resolver()
EXAMPLES = {
    "titled": Example(
        summary="A file name, an English title and tags",
        value={
            "filename": "README.txt",
            "translations": [{"language": "en", "title": "Read me", "tags": ["$internal", "docs"]}],
            "note": None,
            "mature": False,
        },
    ),
}


@app.put(route_of("replace_asset", "PUT").resolver_path, responses=documented(200, AssetOut, "The asset"))
def replace(key: str, request: Annotated[ReplaceAssetRequest, Body(openapi_examples=EXAMPLES)]) -> Response[str]:
    asset = replace_metadata(principal(app), key, request, Store())
    return json_response(200, AssetOut.of(asset, base_url(app)).model_dump(mode="json"))


lambda_handler = api_handler(app, unknown=Gone)  # an unknown key is gone
