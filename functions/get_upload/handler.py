"""GET /api/v1/assets/uploads/{upload_id} — pending, ingested (with the asset) or rejected (why)."""

from aws_lambda_powertools.event_handler import Response

from carton.assets.api import UploadOut
from carton.store import Store
from carton.web.http import api_handler, api_resolver, base_url, principal, route_of
from carton.web.responses import documented, json_response

app = api_resolver()


@app.get(route_of("get_upload").resolver_path, responses=documented(200, UploadOut, "The upload's state"))
def upload(upload_id: str) -> Response[str]:
    found = Store().get_upload(principal(app).account_id, upload_id)
    return json_response(200, UploadOut.of(found, base_url(app)).model_dump(mode="json"))


lambda_handler = api_handler(app)
