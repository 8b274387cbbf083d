import pytest
from pydantic import ValidationError

from carton.downloads import content_disposition, zip_filename_for
from carton.http import validation_errors
from carton.models import MAX_ASSETS_PER_DOWNLOAD, CreateDownloadRequest


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
    assert zip_filename_for(None, None, "abc") == "abc.zip"
    assert zip_filename_for(None, "Spring / Summer", "abc") == "Spring _ Summer.zip"
    assert zip_filename_for("../../evil.zip", None, "abc") == ".._.._evil.zip"


def test_content_disposition_has_an_ascii_fallback_and_utf8_name() -> None:
    header = content_disposition('Fotó "x".zip')
    assert header.startswith('attachment; filename="Fot_ _x_.zip"')
    assert "filename*=UTF-8''Fot%C3%B3%20%22x%22.zip" in header
