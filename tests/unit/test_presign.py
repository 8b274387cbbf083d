"""Every link Carton hands out is SigV4 in every region (S3 refuses SigV2 on new buckets),
and an upload form makes S3 itself enforce the key, the type and the exact size."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from carton.shared import aws, presign

# botocore's default for S3 presigning is SigV2 in the first four of these.
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2")


@pytest.fixture(params=REGIONS)
def region(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", request.param)
    monkeypatch.setenv("AWS_REGION", request.param)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    aws.reset()
    yield str(request.param)
    aws.reset()


def test_an_archive_link_is_sigv4_and_names_the_file(region: str) -> None:
    url = presign.archive_get("carton-archives", "archives/a/d/Spring.zip", "Spring ñ.zip", "application/zip")
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert f"/{region}/s3/aws4_request" in query["X-Amz-Credential"][0]
    assert "Signature" not in query and "AWSAccessKeyId" not in query
    assert query["X-Amz-Expires"] == ["900"]
    # The bucket's regional host: the global one redirects new buckets outside us-east-1.
    assert region == "us-east-1" or urlsplit(url).hostname == f"carton-archives.s3.{region}.amazonaws.com"
    assert query["response-content-disposition"][0].startswith('attachment; filename="Spring _.zip"')


def test_an_upload_form_is_sigv4_and_binds_key_type_and_exact_size(region: str) -> None:
    form = presign.upload_form("carton-assets", "uploads/acc/up/clip.mp4", "video/mp4", 1234)
    assert form.fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert region == "us-east-1" or urlsplit(form.url).hostname == f"carton-assets.s3.{region}.amazonaws.com"
    assert f"/{region}/s3/aws4_request" in form.fields["x-amz-credential"]
    assert "AWSAccessKeyId" not in form.fields and "signature" not in form.fields
    assert form.fields["key"] == "uploads/acc/up/clip.mp4" and form.fields["Content-Type"] == "video/mp4"
    policy = json.loads(base64.b64decode(form.fields["policy"]))
    conditions = policy["conditions"]
    assert ["content-length-range", 1234, 1234] in conditions
    assert {"Content-Type": "video/mp4"} in conditions
    assert {"key": "uploads/acc/up/clip.mp4"} in conditions
    assert {"bucket": "carton-assets"} in conditions
