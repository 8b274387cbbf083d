"""DELETE at any point of packaging leaves nothing behind once the workflow has stopped:
no plan object, no open multipart upload, no archive — whichever step was running."""

from __future__ import annotations

from typing import Any

import pytest

from carton.accounts.keys import principal_from_context
from carton.downloads.models import DownloadState
from carton.downloads.service import delete_download
from carton.shared import aws
from carton.store import Store
from carton_local.lambdas import FunctionError
from tests.integration.conftest import Carton, load_event
from tests.integration.test_workflow import new_download, step

STEPS = ("prepare", "pack", "complete")


def leftovers(carton: Carton) -> dict[str, list[str]]:
    s3, bucket = aws.s3(), carton.resources.buckets["archives"]
    objects = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    uploads = [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    return {"objects": objects, "uploads": uploads}


@pytest.mark.parametrize("deleted_after", ["prepare", "pack"])
def test_a_delete_while_packaging_leaves_nothing_whatever_ran_on(carton: Carton, deleted_after: str) -> None:
    """The record goes at once; the steps still running (a Lambda is not stopped with its
    execution) find it gone and remove what they made; the failure step sweeps the rest."""
    principal = principal_from_context(load_event("api/create_download")["requestContext"]["authorizer"])
    download_id = new_download(carton, ["demo-logo", "demo-photo"])
    state = step(carton, "prepare", {"download_id": download_id})
    if deleted_after == "pack":
        for group in state["groups"]:
            step(carton, "pack", {"download_id": download_id, **group})
    delete_download(principal, download_id, carton.store)
    assert leftovers(carton) == {"objects": [], "uploads": []}
    if deleted_after == "pack":  # a complete invoked just after the delete finds nothing to finish
        with pytest.raises(FunctionError):
            step(carton, "complete", {"download_id": download_id})
    step(carton, "fail", {"download_id": download_id, "error": {"Error": "States.Aborted", "Cause": ""}})
    assert leftovers(carton) == {"objects": [], "uploads": []}


def test_a_delete_racing_prepare_leaves_no_upload(carton: Carton) -> None:
    """prepare opened its upload and wrote its plan just as the record went."""
    principal = principal_from_context(load_event("api/create_download")["requestContext"]["authorizer"])
    download_id = new_download(carton, ["demo-logo"])
    step(carton, "prepare", {"download_id": download_id})
    s3, bucket = aws.s3(), carton.resources.buckets["archives"]
    key = f"archives/demo/{download_id}/late.zip"
    s3.create_multipart_upload(Bucket=bucket, Key=key)  # an attempt that never recorded its upload
    delete_download(principal, download_id, carton.store)
    step(carton, "fail", {"download_id": download_id, "error": {"Error": "States.Aborted", "Cause": ""}})
    assert leftovers(carton) == {"objects": [], "uploads": []}


def test_a_delete_while_complete_assembles_removes_the_archive_it_made(
    carton: Carton, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DELETE cleaned S3 up while the archive did not exist yet; the record goes just before
    complete marks it (after S3's CompleteMultipartUpload made the archive)."""
    download_id = new_download(carton, ["demo-logo"])
    state = step(carton, "prepare", {"download_id": download_id})
    for group in state["groups"]:
        step(carton, "pack", {"download_id": download_id, **group})
    marking = Store.update_download

    def deleted_first(self: Store, account_id: str, download_id_: str, **changes: Any) -> Any:
        if changes.get("state") is DownloadState.COMPLETE:
            carton.store.delete_download(carton.store.get_download(account_id, download_id_))
        return marking(self, account_id, download_id_, **changes)

    monkeypatch.setattr(Store, "update_download", deleted_first)
    assert step(carton, "complete", {"download_id": download_id})["state"] == "deleted"
    assert leftovers(carton) == {"objects": [], "uploads": []}
