"""Every kind of archive Carton builds, read by zipfile, unzip, 7z and bsdtar."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from carton.assets.models import Asset
from carton.assets.repository import asset_item
from carton.assets.service import store_bytes
from carton.shared import aws
from carton.shared.checksums import checksums
from carton.storage.objects import asset_object_key as object_key
from carton_local.demo import png
from tests.archives import verify_archive
from tests.integration.conftest import Carton
from tests.integration.test_workflow import new_download, run_workflow

CASES = {
    "empty file": [("empty.txt", "text/plain", b"")],
    "one file": [("one.txt", "text/plain", b"just one\n")],
    "unicode names": [
        ("Fotografía ñandú — 写真.txt", "text/plain", b"unicode\n"),
        ("Ελληνικά.txt", "text/plain", b"el\n"),
    ],
    "clashing names": [
        ("Same.txt", "text/plain", b"1\n"),
        ("same.TXT", "text/plain", b"2\n"),
        ("same.txt", "text/plain", b"3\n"),
    ],
    "hostile names": [
        ("../../etc/passwd", "text/plain", b"x\n"),
        ("C:\\Windows\\evil.txt", "text/plain", b"y\n"),
        ("/abs/olute.txt", "text/plain", b"z\n"),
        ("con.txt", "text/plain", b"w\n"),
        ('what?<is>"this".txt', "text/plain", b"v\n"),
    ],
}


def seed(carton: Carton, files: list[tuple[str, str, bytes]]) -> list[str]:
    """Assets written directly (moto copies the whole table for every transaction, which
    makes thousands of imports slow here; the import path itself is tested elsewhere)."""
    ids = []
    with carton.store.table.batch_writer() as batch:
        for index, (name, content_type, data) in enumerate(files):
            key = object_key("demo", f"c{index}", name)
            stored = aws.s3().put_object(Bucket=carton.resources.buckets["assets"], Key=key, Body=data)
            sums = checksums([data])
            asset = Asset(
                account_id="demo",
                asset_id=f"c{index}",
                filename=name,
                content_type=content_type,
                size=sums.size,
                sha256=sums.sha256,
                crc32=sums.crc32,
                etag=stored["ETag"],
                s3_key=key,
            )
            batch.put_item(Item=asset_item(asset))
            ids.append(asset.asset_id)
    return ids


def build(carton: Carton, files: list[tuple[str, str, bytes]], tmp_path: Path, **options: object) -> Path:
    ids = seed(carton, files)
    download_id = new_download(carton, ids, **options)
    run_workflow(carton, download_id)
    key = carton.store.get_download("demo", download_id).archive_key or ""
    path = tmp_path / "archive.zip"
    aws.s3().download_file(carton.resources.buckets["archives"], key, str(path))
    return path


@pytest.mark.parametrize("case", list(CASES))
def test_readers_accept(carton: Carton, tmp_path: Path, case: str) -> None:
    path = build(carton, CASES[case], tmp_path)
    verify_archive(path)


def test_hostile_names_stay_inside_the_extraction_folder(carton: Carton, tmp_path: Path) -> None:
    path = build(carton, CASES["hostile names"], tmp_path)
    names = zipfile.ZipFile(path).namelist()
    assert names == ["passwd", "evil.txt", "olute.txt", "_con.txt", "what__is__this_.txt", "manifest.json"]


def test_two_thousand_small_files_in_folders(carton: Carton, tmp_path: Path) -> None:
    files = [(f"file-{i:04d}.txt", "text/plain", f"small file {i}\n".encode() * (i % 7 + 1)) for i in range(2000)]
    path = build(carton, files, tmp_path, layout="folders")
    assert verify_archive(path)[0] == "zipfile"


def test_a_conversion(carton: Carton, tmp_path: Path) -> None:
    conversion = {"conversion": {"format": "jpeg", "max_width": 64}}
    store_bytes(carton.store, "demo", "photo", "photo.png", "image/png", png(200, 100))
    download_id = new_download(carton, ["photo"], renditions={"global": {"image": conversion}})
    run_workflow(carton, download_id)
    path = tmp_path / "archive.zip"
    key = carton.store.get_download("demo", download_id).archive_key or ""
    aws.s3().download_file(carton.resources.buckets["archives"], key, str(path))
    verify_archive(path, ["photo.jpg", "manifest.json"])
