"""POST /api/v1/assets/uploads — a presigned PUT for a large file; the S3 event ingests it."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body

from carton.assets.api import UploadOut, UploadRequest
from carton.assets.uploads import create_upload
from carton.store import Store
from carton.web.http import api_handler, api_resolver, base_url, principal, route_of
from carton.web.responses import documented, json_response

app = api_resolver()
EXAMPLES = {
    "text": Example(
        summary="A text file of 24 bytes", value={"filename": "note.txt", "content_type": "text/plain", "size": 24}
    ),
}


@app.post(route_of("create_upload", "POST").resolver_path, responses=documented(201, UploadOut, "Where to PUT"))
def create(request: Annotated[UploadRequest, Body(openapi_examples=EXAMPLES)]) -> Response[str]:
    body = create_upload(principal(app), request, Store(), base_url(app))
    return json_response(201, body.model_dump(mode="json"), {"Location": body.url, "Cache-Control": "no-store"})


lambda_handler = api_handler(app)
