"""POST /api/v1/assets/uploads/{upload_id}/parts — presigned PUTs for some parts of a
multipart upload (ask in batches, as they are needed: each lasts 15 minutes)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body

from carton.assets.api import SignedParts, SignPartsRequest
from carton.assets.multipart import sign_parts
from carton.store import Store
from carton.web.http import api_handler, api_resolver, principal, route_of
from carton.web.responses import documented, json_response

app = api_resolver()
EXAMPLES = {"first": Example(summary="The first four parts", value={"numbers": [1, 2, 3, 4]})}


@app.post(route_of("sign_upload_parts", "POST").resolver_path, responses=documented(200, SignedParts, "Where to PUT"))
def parts(upload_id: str, request: Annotated[SignPartsRequest, Body(openapi_examples=EXAMPLES)]) -> Response[str]:
    signed = sign_parts(principal(app), upload_id, request, Store())
    return json_response(200, signed.model_dump(mode="json"), {"Cache-Control": "no-store"})


lambda_handler = api_handler(app)
