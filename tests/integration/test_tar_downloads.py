"""A tar download through the real steps: the archive S3 assembles (large members copied by
S3, headers and padding streamed) is read back by tarfile, GNU tar and bsdtar, and is served
as a tar."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from carton.accounts.keys import principal_from_context
from carton.assets.service import store_bytes
from carton.downloads.api import CreateDownloadRequest
from carton.downloads.service import archive_link
from carton.packaging.assembly import COPY_THRESHOLD
from carton.shared import aws
from tests.integration.conftest import Carton, load_event
from tests.integration.test_workflow import new_download, run_workflow


def test_a_tar_download_is_assembled_and_read_by_every_reader(carton: Carton, tmp_path: Path) -> None:
    lines = COPY_THRESHOLD // 20 + 1_000
    big = b"".join(f"{index:012d} a log line\n".encode() for index in range(lines))  # copied by S3, not streamed
    store_bytes(carton.store, "demo", "tar-big", "big log.txt", "text/plain", big)
    download_id = new_download(
        carton, ["demo-readme", "tar-big", "demo-logo"], format="tar", layout="folders", name="Spring"
    )
    done = run_workflow(carton, download_id)
    assert done["state"] == "complete"
    download = carton.store.get_download("demo", download_id)
    assert download.zip_filename == "Spring.tar" and (download.archive_key or "").endswith("/Spring.tar")
    stored = aws.s3().get_object(Bucket=carton.resources.buckets["archives"], Key=download.archive_key or "")
    assert stored["ContentType"] == "application/x-tar"
    data = stored["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        names = archive.getnames()
        assert names[-1] == "manifest.json" and len(names) == 4
        manifest = json.loads(archive.extractfile("manifest.json").read())  # type: ignore[union-attr]
        by_path = {entry["path"]: entry for entry in manifest["files"]}
        big_path = next(path for path, entry in by_path.items() if entry["asset_id"] == "tar-big")
        assert archive.extractfile(big_path).read() == big  # type: ignore[union-attr]
    path = tmp_path / "Spring.tar"
    path.write_bytes(data)
    for reader in ("tar", "bsdtar"):
        if shutil.which(reader) is None:
            pytest.skip(f"{reader} is not installed (make test installs it)")
        listed = subprocess.run([reader, "-tf", str(path)], capture_output=True, text=True, check=True)
        assert listed.stdout.splitlines() == names


def test_the_archive_link_serves_a_tar(carton: Carton) -> None:
    download_id = new_download(carton, ["demo-readme"], format="tar")
    run_workflow(carton, download_id)
    principal = principal_from_context(load_event("api/create_download")["requestContext"]["authorizer"])
    link = archive_link(principal, download_id, carton.store)
    assert "response-content-type=application%2Fx-tar" in link


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"format": "rar"}, "Input should be 'zip' or 'tar'"),
        ({"format": "tar", "zip_filename": "spring.zip"}, "zip_filename must end in .tar (the archive is a tar)"),
        ({"zip_filename": "spring.tar"}, "zip_filename must end in .zip (the archive is a zip)"),
    ],
)
def test_a_format_and_a_file_name_that_disagree_are_refused(body: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CreateDownloadRequest.model_validate({"asset_ids": ["a1"], **body})
