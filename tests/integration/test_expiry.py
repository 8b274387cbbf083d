"""A download's own life (expires_in_days): its archive carries the tag the archives
bucket's lifecycle rules remove it by, its expiry says when, and from then on neither its
file nor its share links open."""

from __future__ import annotations

from datetime import timedelta

import pytest

from carton.accounts.keys import principal_from_context
from carton.accounts.models import Principal
from carton.downloads.api import CreateDownloadRequest
from carton.downloads.service import archive_link, create_download
from carton.shared import aws
from carton.shared.errors import Gone, ValidationFailed
from carton.shared.fields import utcnow
from carton.storage.schema import ARCHIVE_EXPIRY_TAG
from tests.integration.conftest import Carton, load_event
from tests.integration.test_sharing import make_link, open_link
from tests.integration.test_workflow import new_download, run_workflow


def principal() -> Principal:
    return principal_from_context(load_event("api/create_download")["requestContext"]["authorizer"])


def test_a_shorter_life_is_tagged_on_the_archive_and_shown(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-readme"], expires_in_days=2)
    run_workflow(carton, download_id)
    download = carton.store.get_download("demo", download_id)
    assert download.completed_at is not None and download.expires_at is not None
    # From when S3 created the object (its lifecycle's clock), at the latest on completion.
    two_days = download.completed_at + timedelta(days=2)
    assert two_days - timedelta(minutes=1) <= download.expires_at <= two_days
    tags = aws.s3().get_object_tagging(Bucket=carton.resources.buckets["archives"], Key=download.archive_key or "")
    assert tags["TagSet"] == [{"Key": ARCHIVE_EXPIRY_TAG, "Value": "2"}]
    default = new_download(carton, ["demo-readme"])
    run_workflow(carton, default)
    plain = carton.store.get_download("demo", default)
    assert (
        aws.s3().get_object_tagging(Bucket=carton.resources.buckets["archives"], Key=plain.archive_key or "")["TagSet"]
        == []
    )


def test_a_life_longer_than_the_deployments_is_refused_naming_the_limit(carton: Carton) -> None:
    request = CreateDownloadRequest(asset_ids=["demo-readme"], expires_in_days=30)
    with pytest.raises(ValidationFailed) as refused:
        create_download(principal(), request, carton.store)
    assert refused.value.errors == {"expires_in_days": ["1 to 7: this deployment keeps archives 7 days"]}


def test_past_its_expiry_neither_the_file_nor_a_link_opens(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-readme"], expires_in_days=1)
    run_workflow(carton, download_id)
    _, _, link = make_link(carton, download_id)
    download = carton.store.get_download("demo", download_id)
    carton.store.update_download("demo", download_id, expect=[download.state], expires_at=utcnow())
    with pytest.raises(Gone):
        archive_link(principal(), download_id, carton.store)
    assert open_link(carton, link["shared_url"])[0] == 410
