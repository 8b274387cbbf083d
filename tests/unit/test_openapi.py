"""The OpenAPI document says what the API does: each route's status codes in the one error
body, bodiless 204/302/304s, Location headers, the query parameters the lists read, open
routes without the key requirement, and request examples the API accepts.
(tests/e2e/test_fuzz.py holds the running API to it.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from carton.accounts import api as accounts_api
from carton.assets import api as assets_api
from carton.downloads import api as downloads_api
from carton.sharing import api as sharing_api
from carton.web.openapi import OPENAPI_VERSION, build_document, shadowed
from carton.web.operations import ERROR_DESCRIPTIONS, ERRORS, OPERATIONS
from carton.web.paging import PAGING_PARAMETERS
from carton.web.routes import DEPLOYED_ROUTES, Route, routes_of

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document(FUNCTIONS)


def operations(document: dict[str, Any]) -> list[tuple[Route, dict[str, Any]]]:
    return [(route, document["paths"][route.path][route.method.lower()]) for route in DEPLOYED_ROUTES]


def test_the_document_is_openapi_3_1_with_json_schema_types(document: dict[str, Any]) -> None:
    assert document["openapi"] == OPENAPI_VERSION == "3.1.0"
    assert '"nullable"' not in str(document)  # 3.0's spelling; pydantic writes {"type": "null"}


def test_every_4xx_is_the_error_body_and_only_the_codes_the_route_answers(document: dict[str, Any]) -> None:
    assert set(document["components"]["schemas"]["ErrorBody"]["properties"]) == {"message", "errors"}
    for route, operation in operations(document):
        errors = {code for code in operation["responses"] if code.startswith("4")}
        for code in errors:
            assert operation["responses"][code] == {
                "description": ERROR_DESCRIPTIONS[int(code)],
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
            }
        assert ("401" in errors) == route.authorized, route
        if route.function in ERRORS:
            assert {int(code) for code in errors} >= ERRORS[route.function]


@pytest.mark.parametrize(
    ("function", "method", "codes"),
    [
        ("create_download", "POST", {"201", "400", "401", "403", "409", "413", "415", "422"}),
        ("get_download", "GET", {"200", "304", "401", "403", "404"}),
        ("delete_download", "DELETE", {"204", "401", "403", "404", "409"}),
        ("download_file", "GET", {"302", "401", "403", "404", "410"}),
        ("get_asset", "GET", {"200", "304", "401", "405", "410"}),  # 405: key "uploads" is POST-only
        ("asset_downloads", "GET", {"200", "400", "401", "403", "404", "410", "413", "422"}),
        ("import_asset", "POST", {"200", "201", "400", "401", "409", "413", "415", "422"}),
        ("replace_account", "PUT", {"200", "400", "401", "403", "413", "415", "422"}),
        ("health", "GET", {"200"}),
        ("openapi", "GET", {"200"}),
    ],
)
def test_a_routes_status_codes(document: dict[str, Any], function: str, method: str, codes: set[str]) -> None:
    route = next(route for route in routes_of(function) if route.method == method)
    assert set(document["paths"][route.path][method.lower()]["responses"]) == codes


def test_bodiless_answers_have_no_content_and_new_or_moved_resources_a_location(document: dict[str, Any]) -> None:
    seen = set()
    for _, operation in operations(document):
        for code, response in operation["responses"].items():
            if code in ("204", "302", "304"):
                assert "content" not in response
                seen.add(code)
            if code in ("201", "302"):
                assert response["headers"]["Location"]["schema"]["format"] == "uri"
            if code in ("200", "201"):
                assert list(response["content"]) == ["application/json"]
    assert seen == {"204", "302", "304"}


def test_the_openapi_document_is_an_object_and_open_routes_need_no_key(document: dict[str, Any]) -> None:
    assert document["security"] == [{"key": []}]
    for route, operation in operations(document):
        if route.authorized:
            assert "security" not in operation  # the document's global requirement applies
        else:
            assert operation["security"] == []
    schema = document["paths"]["/api/v1/openapi"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["type"] == "object"
    health = document["paths"]["/api/v1/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert health["type"] == "object" and health["required"] == ["status"]


def test_lists_document_the_query_parameters_they_read(document: dict[str, Any]) -> None:
    for function in ("list_downloads", "list_assets", "list_users", "list_targets", "asset_downloads"):
        route = routes_of(function)[0]
        names = {p["name"] for p in document["paths"][route.path]["get"]["parameters"] if p["in"] == "query"}
        assert names >= set(PAGING_PARAMETERS), function
    listed = document["paths"]["/api/v1/downloads"]["get"]["parameters"]
    assert {p["name"] for p in listed} >= {"complete", "state", "uid", "from", "to", "user", "ordering"}


def test_a_path_parameter_that_is_another_resources_path_is_documented(document: dict[str, Any]) -> None:
    get_asset = routes_of("get_asset")[0]
    assert set(shadowed(get_asset)["key"]) == {"uploads"}
    (key,) = document["paths"][get_asset.path]["get"]["parameters"][:1]
    assert key["schema"]["not"] == {"enum": ["uploads"]} and key["schema"]["minLength"] == 1
    assert not shadowed(routes_of("get_upload")[0])  # /assets/uploads/{id} is the more static route


_REQUESTS: dict[str, type[BaseModel]] = {
    "CreateDownloadRequest": downloads_api.CreateDownloadRequest,
    "ImportAssetRequest": assets_api.ImportAssetRequest,
    "UploadRequest": assets_api.UploadRequest,
    "ReplaceAssetRequest": assets_api.ReplaceAssetRequest,
    "CreateUserRequest": accounts_api.CreateUserRequest,
    "CreateTokenRequest": accounts_api.CreateTokenRequest,
    "AccountSettings": accounts_api.AccountSettings,
    "CreateLinkRequest": sharing_api.CreateLinkRequest,
    "SignPartsRequest": assets_api.SignPartsRequest,
    "CompleteUploadRequest": assets_api.CompleteUploadRequest,
}


def test_every_request_body_has_examples_its_model_accepts(document: dict[str, Any]) -> None:
    bodies = 0
    for _, operation in operations(document):
        if "requestBody" not in operation:
            continue
        content = operation["requestBody"]["content"]
        assert list(content) == ["application/json"]  # what the API takes: anything else is a 415
        name = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        examples = content["application/json"]["examples"]
        assert examples
        for example in examples.values():
            _REQUESTS[name].model_validate(example["value"])
        bodies += 1
    assert bodies == len([route for route in DEPLOYED_ROUTES if route.method in ("POST", "PUT")])
    create = document["paths"]["/api/v1/downloads"]["post"]["requestBody"]["content"]["application/json"]
    assert create["examples"]["folders"]["value"]["asset_ids"] == ["demo-readme", "demo-logo", "demo-photo"]


def test_the_error_table_names_only_functions_that_serve_routes() -> None:
    assert set(ERRORS) <= {route.function for route in DEPLOYED_ROUTES}


def test_every_operation_is_grouped_summarised_and_described_for_people(document: dict[str, Any]) -> None:
    tags = {tag["name"] for tag in document["tags"]}
    assert tags == {"downloads", "assets", "account", "meta"}
    summaries = set()
    for _, operation in operations(document):
        assert operation["tags"][0] in tags
        assert operation["summary"] and "/api/" not in operation["summary"]
        assert len(operation["description"]) > 20
        summaries.add(operation["summary"])
    assert "Create a download" in summaries
    assert "Token" in document["components"]["securitySchemes"]["key"]["description"]


def test_the_operations_table_names_exactly_the_functions_that_serve_routes() -> None:
    assert set(OPERATIONS) == {route.function for route in DEPLOYED_ROUTES}
