"""Downloads by query: a selection (tag, batch, media type, file-name prefix) resolved at
create time from the indexes its filters name, the other filters checked on what they
yield; tags and names followed through PUT and DELETE."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from carton.accounts.keys import principal_from_context
from carton.accounts.models import Principal
from carton.assets.api import ImportAssetRequest, ReplaceAssetRequest
from carton.assets.service import delete_asset, import_asset, replace_metadata
from carton.downloads import service
from carton.downloads.api import CreateDownloadRequest
from carton.downloads.service import create_download
from carton.shared.errors import ValidationFailed
from carton.web.http import validation_errors
from carton_local.demo import png
from tests.integration.conftest import Carton, load_event

BATCH = datetime(2026, 11, 25, 10, 0, 0, 123000, tzinfo=UTC)


def principal() -> Principal:
    return principal_from_context(load_event("api/create_download")["requestContext"]["authorizer"])


def imported(
    carton: Carton, name: str, data: bytes, content_type: str, tags: list[str], batch: datetime | None = None
) -> str:
    request = ImportAssetRequest.model_validate(
        {
            "art": base64.b64encode(data).decode(),
            "content_type": content_type,
            "filename": name,
            "translations": [{"language": "en", "tags": tags}] if tags else [],
            **({"batch": batch.isoformat().replace("+00:00", "Z")} if batch else {}),
        }
    )
    asset, _ = import_asset(principal(), request, carton.store)
    return asset.asset_id


@pytest.fixture
def library(carton: Carton) -> dict[str, str]:
    return {
        "red": imported(carton, "Spring red.png", png(3, 2), "image/png", ["spring", "red"], BATCH),
        "blue": imported(carton, "spring blue.png", png(4, 2), "image/png", ["spring"], BATCH),
        "notes": imported(carton, "Spring notes.txt", b"spring notes\n", "text/plain", ["spring"]),
        "other": imported(carton, "Autumn.txt", b"autumn\n", "text/plain", ["autumn"], BATCH),
    }


def selected(carton: Carton, selection: dict[str, object], **more: object) -> list[str]:
    request = CreateDownloadRequest.model_validate({"selection": selection, **more})
    return create_download(principal(), request, carton.store).asset_ids


def test_each_filter_and_their_combination_selects_exactly_what_matches(
    carton: Carton, library: dict[str, str]
) -> None:
    assert sorted(selected(carton, {"tag": "spring"})) == sorted([library["red"], library["blue"], library["notes"]])
    assert sorted(selected(carton, {"filename_prefix": "SPRING "})) == sorted(
        [library["red"], library["blue"], library["notes"]]
    )
    assert sorted(selected(carton, {"batch": "2026-11-25T10:00:00.123Z"})) == sorted(
        [library["red"], library["blue"], library["other"]]
    )
    assert selected(carton, {"tag": "spring", "media_type": "document"}) == [library["notes"]]
    assert selected(carton, {"tag": "red", "filename_prefix": "spring"}) == [library["red"]]
    both = selected(carton, {"tag": "autumn"}, asset_ids=["demo-readme"])
    assert both == ["demo-readme", library["other"]]


def test_a_selection_follows_renames_retags_and_deletions(carton: Carton, library: dict[str, str]) -> None:
    replace_metadata(
        principal(),
        library["blue"],
        ReplaceAssetRequest.model_validate(
            {
                "filename": "Winter blue.png",
                "translations": [{"language": "en", "tags": ["winter"]}],
                "note": None,
                "mature": False,
            }
        ),
        carton.store,
    )
    delete_asset(principal(), library["notes"], carton.store)
    assert selected(carton, {"tag": "spring"}) == [library["red"]]
    assert selected(carton, {"tag": "winter"}) == [library["blue"]]
    assert selected(carton, {"filename_prefix": "winter"}) == [library["blue"]]


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"selection": {}}, "selection", "give at least one of tag, batch, media_type, filename_prefix"),
        ({"selection": {"colour": "red"}}, "selection.colour", "unknown field"),
        ({"selection": {"media_type": "sound"}}, "selection.media_type", "'image', 'video', 'document' or 'other'"),
        ({}, "asset_ids", "Field required"),
        ({"asset_ids": []}, "asset_ids", "1 to 10,000 asset ids, or a selection"),
    ],
)
def test_bad_selections_name_the_field(body: dict[str, object], field: str, reason: str) -> None:
    with pytest.raises(ValidationError) as raised:
        CreateDownloadRequest.model_validate(body)
    errors = validation_errors([{**error, "loc": ("body", *error["loc"])} for error in raised.value.errors()])
    assert field in errors and reason in " ".join(errors[field])


def test_a_selection_of_nothing_or_of_too_much_is_refused(
    carton: Carton, library: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValidationFailed) as nothing:
        selected(carton, {"tag": "no-such-tag"})
    assert nothing.value.errors == {"selection": ["no live asset of this account matches it"]}
    monkeypatch.setattr(service, "MAX_ASSETS_PER_DOWNLOAD", 2)
    with pytest.raises(ValidationFailed) as too_many:
        selected(carton, {"tag": "spring"})
    assert too_many.value.errors == {"selection": ["matches more than 2 assets; narrow it"]}
