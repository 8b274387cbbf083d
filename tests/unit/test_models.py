from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from carton.assets.api import UploadRequest
from carton.assets.models import AssetMetadata
from carton.downloads.api import MAX_ASSETS_PER_DOWNLOAD, CreateDownloadRequest, DownloadOut
from carton.downloads.models import Download, DownloadState, Progress
from carton.downloads.service import archive_filename_for
from carton.shared.presign import content_disposition
from carton.web.http import validation_errors


def errors_of(payload: dict[str, object]) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        CreateDownloadRequest.model_validate(payload)
    return validation_errors([{**e, "loc": ("body", *e["loc"])} for e in caught.value.errors()])


def test_aliases_from_the_seed_apis() -> None:
    request = CreateDownloadRequest.model_validate({"presentation_ids": ["a", "b"], "format_flat": 0})
    assert request.asset_ids == ["a", "b"] and request.layout == "folders"
    assert CreateDownloadRequest.model_validate({"asset_ids": ["a"], "format_flat": "1"}).layout == "flat"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "asset_ids"),
        ({"asset_ids": []}, "asset_ids"),
        ({"asset_ids": "abc"}, "asset_ids"),
        ({"asset_ids": ["a", "a"]}, "asset_ids"),
        ({"asset_ids": ["../x"]}, "asset_ids.0"),
        ({"asset_ids": ["a"], "colour": "red"}, "colour"),
        ({"asset_ids": ["a"], "zip_filename": "x.tar"}, "zip_filename"),
        ({"asset_ids": ["a"], "layout": "tree"}, "layout"),
        ({"asset_ids": ["a"], "format_flat": 7}, "body"),
        ({"asset_ids": ["a" + str(i) for i in range(MAX_ASSETS_PER_DOWNLOAD + 1)]}, "asset_ids"),
    ],
)
def test_bad_requests_name_the_field(payload: dict[str, object], field: str) -> None:
    assert field in errors_of(payload)


def test_unknown_fields_say_so() -> None:
    assert errors_of({"asset_ids": ["a"], "colour": "red"})["colour"] == ["unknown field"]


def test_zip_filenames_are_made_safe() -> None:
    assert archive_filename_for(None, None, "abc", ".zip") == "abc.zip"
    assert archive_filename_for(None, "Spring / Summer", "abc", ".zip") == "Spring _ Summer.zip"
    assert archive_filename_for("../../evil.zip", None, "abc", ".zip") == ".._.._evil.zip"


def test_content_disposition_has_an_ascii_fallback_and_utf8_name() -> None:
    header = content_disposition('Fotó "x".zip')
    assert header.startswith('attachment; filename="Fot_ _x_.zip"')
    assert "filename*=UTF-8''Fot%C3%B3%20%22x%22.zip" in header


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.8/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fd00:ec2::254]/",
        "ftp://example.com/",
        "https:///nohost",
        "https://user:secret@example.com/hook",  # credentials would be stored and echoed
    ],
)
def test_webhook_urls_must_be_public_https(url: str) -> None:
    errors = errors_of({"asset_ids": ["a"], "notify": {"webhook_url": url, "webhook_secret": "x" * 16}})
    assert "notify.webhook_url" in errors


def test_a_webhook_needs_its_secret_and_templates_only_known_fields() -> None:
    assert "notify" in errors_of({"asset_ids": ["a"], "notify": {"webhook_url": "https://example.com/h"}})
    assert "name_template" in errors_of({"asset_ids": ["a"], "name_template": "{filename.__class__}"})
    assert "name_template" in errors_of({"asset_ids": ["a"], "name_template": "{nope}"})
    assert "body" in errors_of({"asset_ids": ["a"], "renditions": {"individual": {"b": {"rendition": "preview"}}}})
    spec = {"rendition": "preview", "conversion": {"format": "png"}}
    assert "renditions.global.image" in errors_of({"asset_ids": ["a"], "renditions": {"global": {"image": spec}}})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"asset_ids": ["a"], "name": "bell\x07"}, "name"),
        ({"asset_ids": ["a"], "zip_filename": "nul\x00.zip"}, "zip_filename"),
        ({"asset_ids": ["a"], "name_template": "{filename}\x1b[31m"}, "name_template"),
        ({"asset_ids": ["a"], "include_manifest": 0}, "include_manifest"),
    ],
)
def test_control_characters_and_numbers_for_booleans_are_refused(body: dict[str, object], field: str) -> None:
    assert field in errors_of(body)


def test_free_text_keeps_line_breaks_but_not_other_controls() -> None:
    metadata = AssetMetadata.model_validate({"filename": "a.png", "note": "two\nlines\tand a tab"})
    assert metadata.note == "two\nlines\tand a tab"
    for bad in ({"note": "form\x0cfeed"}, {"translations": [{"language": "en", "tags": ["a\x00b"]}]}, {"mature": 0}):
        with pytest.raises(ValidationError):
            AssetMetadata.model_validate({"filename": "a.png", **bad})


def test_an_uploads_batch_is_in_utc() -> None:
    assert UploadRequest(filename="a.txt", content_type="text/plain", size=1, batch="2026-01-02T03:04:05.678Z").batch
    with pytest.raises(ValidationError, match="batch must be in UTC"):
        UploadRequest(filename="a.txt", content_type="text/plain", size=1, batch="2026-01-02T03:04:05+02:00")


def test_progress_estimates_the_time_left_from_the_rate_so_far() -> None:
    created = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    download = Download(
        account_id="a",
        download_id="d",
        created_by="u",
        created_by_email="u@example.com",
        name="n",
        zip_filename="n.zip",
        layout="flat",
        download_type="archive",
        asset_ids=["x"],
        state=DownloadState.PACKAGING,
        created_at=created,
        progress=Progress(files_total=4, files_done=1, bytes_total=400, bytes_done=100),
    )
    shown = DownloadOut.of(download, "https://api.example", now=created + timedelta(seconds=30))
    assert shown.progress.eta_seconds == 90  # a quarter in 30 s: three quarters to go
    assert shown.poll_after() == 22
    starting = download.model_copy(update={"progress": Progress(files_total=4, bytes_total=400)})
    assert DownloadOut.of(starting, "https://api.example").progress.eta_seconds is None
    assert DownloadOut.of(starting, "https://api.example").poll_after() == 2
    done = download.model_copy(update={"state": DownloadState.COMPLETE})
    assert DownloadOut.of(done, "https://api.example").progress.eta_seconds == 0
    assert DownloadOut.of(done, "https://api.example").poll_after() is None
