"""POST /api/v1/assets/uploads/{upload_id}/complete — every part sent: S3 assembles the
file, and its event ingests it as for a form upload. 200 with the upload, still pending."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body

from carton.assets.api import CompleteUploadRequest, UploadOut
from carton.assets.multipart import complete
from carton.store import Store
from carton.web.http import api_handler, api_resolver, base_url, principal, route_of
from carton.web.responses import documented, json_response

app = api_resolver()
EXAMPLES = {
    "two": Example(
        summary="A file of two parts",
        value={
            "parts": [
                {"number": 1, "etag": '"a54357aff0632cce46d942af68356b38"'},
                {"number": 2, "etag": '"0c78aef83f66abc1fa1e8477f296d394"'},
            ]
        },
    )
}


@app.post(
    route_of("complete_upload", "POST").resolver_path,
    responses=documented(200, UploadOut, "The upload, pending until it is ingested"),
)
def finish(upload_id: str, request: Annotated[CompleteUploadRequest, Body(openapi_examples=EXAMPLES)]) -> Response[str]:
    upload = complete(principal(app), upload_id, request, Store())
    return json_response(200, UploadOut.of(upload, base_url(app)).model_dump(mode="json"))


lambda_handler = api_handler(app)
