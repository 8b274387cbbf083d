"""One source of truth: the route table, the function folders and the ASL must agree."""

import json
from pathlib import Path

import pytest

from carton.web.openapi import build_document
from carton.web.routes import DEPLOYED_ROUTES, GATEWAY_ANSWERS, ROUTES, http_functions, routes_of
from carton_local.gateway import match_route
from infra.definition import CATCH, FAILURE_STATE, RETRY, definition_template, placeholders, render, with_concurrency
from infra.stack import deployed_functions

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def test_every_route_and_workflow_step_has_a_function_folder() -> None:
    wanted = {*deployed_functions(), *http_functions()}  # local-only routes' functions too
    present = {path.parent.name for path in FUNCTIONS.glob("*/handler.py")}
    assert wanted == present


def test_routes_are_unique_and_use_powertools_syntax() -> None:
    keys = [(route.method, route.path) for route in ROUTES]
    assert len(keys) == len(set(keys))
    route = routes_of("get_download")[0]
    assert route.resolver_path == "/api/v1/downloads/<download_id>"
    with pytest.raises(KeyError):
        routes_of("no_such_function")


def test_every_task_is_retried_and_caught_except_the_failure_recorder() -> None:
    states = json.loads(definition_template())["States"]
    tasks = {name: state for name, state in states.items() if state["Type"] == "Task"}
    assert set(tasks) == {"Prepare", "Complete", FAILURE_STATE, "NotifyCompleted", "NotifyFailed"}
    for name, state in tasks.items():
        # The failure recorder retries every error (it must not leave a download packaging).
        last = state["Retry"][-1]
        assert last == RETRY or (name == FAILURE_STATE and last["ErrorEquals"] == ["States.ALL"])
        assert ("Catch" in state) == (name != FAILURE_STATE)
    pack = states["Pack"]
    assert pack["Type"] == "Map" and pack["Catch"] == [CATCH]
    worker = pack["ItemProcessor"]["States"]["PackParts"]
    assert worker["Retry"][-1] == RETRY
    assert {"StorageThrottled", "StorageUnavailable"} <= set(RETRY["ErrorEquals"])
    assert "Catch" not in worker, "a Catch inside the map could not reach RecordFailure"
    assert json.loads(with_concurrency(definition_template(), 3))["States"]["Pack"]["MaxConcurrency"] == 3
    for name in ("NotifyCompleted", "NotifyFailed"):
        assert states[name]["Retry"][0]["ErrorEquals"] == ["WebhookFailed"]
        caught = states[states[name]["Catch"][0]["Next"]]
        ends = states[name].get("End") or states[states[name]["Next"]]["Type"] in ("Succeed", "Fail")
        assert ends and caught["Type"] == ("Succeed" if name == "NotifyCompleted" else "Fail"), (
            "notifying changes no download's outcome"
        )


def test_render_fills_every_placeholder_and_refuses_missing_ones() -> None:
    rendered = render({name: f"arn:aws:lambda:us-east-1:1:function:{name}" for name in placeholders()})
    assert "${" not in rendered
    with pytest.raises(KeyError, match="workflow_fail"):
        render({name: "x" for name in placeholders() if name != "workflow_fail"})


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/api/v1/health", "health"),
        ("POST", "/api/v1/downloads", "create_download"),
        ("GET", "/api/v1/downloads/abc", "get_download"),
        ("GET", "/api/v1/downloads/abc/file", "download_file"),
        ("GET", "/api/v1/downloads/abc/download", "download_file"),
        ("DELETE", "/api/v1/health", "METHOD_NOT_ALLOWED"),
        ("GET", "/api/v1/nothing", "MISSING_AUTHENTICATION_TOKEN"),
        ("GET", "/api/v1/downloads/a/b/c", "MISSING_AUTHENTICATION_TOKEN"),
    ],
)
def test_local_gateway_matches_the_route_table(method: str, path: str, expected: str) -> None:
    found = match_route(method, path)
    assert (found if isinstance(found, str) else found.route.function) == expected


def test_gateway_answers_use_the_error_body() -> None:
    for answer in GATEWAY_ANSWERS.values():
        assert 400 <= answer.status < 500
        assert set(answer.body()) == {"message", "errors"}
        assert all(isinstance(reasons, list) for reasons in answer.errors.values())


def test_the_openapi_document_describes_exactly_the_deployed_route_table() -> None:
    document = build_document(FUNCTIONS)
    described = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    assert described == {(route.method, route.path) for route in DEPLOYED_ROUTES}
    create = document["paths"]["/api/v1/downloads"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/CreateDownloadRequest")
    assert "201" in create["responses"] and "200" not in create["responses"]
    assert create["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert document["paths"]["/api/v1/health"]["get"]["security"] == []


def test_links_are_built_from_the_route_table() -> None:
    from carton.web.routes import url_for

    assert url_for("get_download", "https://x.example/prod", download_id="d1") == (
        "https://x.example/prod/api/v1/downloads/d1"
    )
    assert url_for("delete_token", token_id="t 1") == "/api/v1/account/tokens/t%201"
    assert url_for("get_account") == "/api/v1/account"
    with pytest.raises(KeyError, match="no value"):
        url_for("get_user")


def test_every_function_that_is_not_an_api_route_has_a_sample_event() -> None:
    events = Path(__file__).resolve().parents[2] / "events"
    samples = {path.relative_to(events).as_posix() for path in events.rglob("*.json")}
    for path in events.rglob("*.json"):
        json.loads(path.read_text())
    wanted = {
        "authorizer": "authorizer/token.json",
        "admin": "admin/create_account.json",
        "sweep_downloads": "schedule/sweep.json",
        "execution_ended": "workflow/execution_ended.json",
        "ingest_upload": "feeds/upload_created.json",
        "archive_removed": "feeds/archive_expired.json",
        **{f"workflow_{step}": f"workflow/{step}.json" for step in ("prepare", "pack", "complete", "fail", "notify")},
    }
    assert set(wanted) | set(http_functions()) == {*deployed_functions(), *http_functions()}
    assert set(wanted.values()) <= samples
