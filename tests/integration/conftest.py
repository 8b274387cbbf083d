"""Integration fixtures: moto holding the same resources the local stack creates,
handlers invoked in-process with the sample events from events/."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from carton.accounts.keys import create_account, issue_token
from carton.accounts.models import Role, User
from carton.assets.models import Asset
from carton.assets.service import store_bytes
from carton.shared import aws, config
from carton.store import Store
from carton_local.demo import DEMO_ASSETS
from carton_local.lambdas import LocalFunctions
from carton_local.resources import LocalResources, create_all
from carton_local.stack import LOCAL_MAIL_FROM

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return copy.deepcopy(event)


def api_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    member: str | None = None,
) -> dict[str, Any]:
    """A REST proxy event for `method path`, as API Gateway sends it: the sample's headers
    and the demo admin's authorizer context (a member's with `member`)."""
    event = load_event("api/create_download")
    event.update(
        httpMethod=method,
        path=path,
        resource=path,
        pathParameters=parameters,
        body=None if body is None else json.dumps(body),
        queryStringParameters=query,
    )
    return as_member(event, member) if member else event


def as_member(event: dict[str, Any], user_id: str) -> dict[str, Any]:
    event["requestContext"]["authorizer"].update({"user_id": user_id, "role": "member", "principalId": user_id})
    return event


@dataclass
class Carton:
    resources: LocalResources
    store: Store
    token: str
    assets: dict[str, Asset]
    functions: LocalFunctions

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        return self.functions.invoke(function, event)

    def api(self, function: str, event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        response = self.invoke(function, event)
        headers = {key.lower(): value for key, value in (response.get("headers") or {}).items()}
        for key, values in (response.get("multiValueHeaders") or {}).items():
            headers[key.lower()] = values[-1]
        body = response.get("body")
        return response["statusCode"], headers, json.loads(body) if body else None

    def add_member(self, user_id: str) -> str:
        member = User(account_id="demo", user_id=user_id, email=f"{user_id}@demo.local", role=Role.MEMBER)
        self.store.put_user(member)
        return issue_token(self.store, member)[1]


@pytest.fixture
def carton(monkeypatch: pytest.MonkeyPatch) -> Iterator[Carton]:
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_LAMBDA", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    with mock_aws():
        resources = create_all("carton-test")
        monkeypatch.setenv(config.ENV_TABLE, resources.table)
        monkeypatch.setenv(config.ENV_ASSETS_BUCKET, resources.buckets["assets"])
        monkeypatch.setenv(config.ENV_ARCHIVES_BUCKET, resources.buckets["archives"])
        monkeypatch.setenv(config.ENV_STATE_MACHINE, resources.state_machine_arn)
        monkeypatch.setenv(config.ENV_MAIL_FROM, LOCAL_MAIL_FROM)
        config.settings.cache_clear()
        aws.reset()
        store = Store()
        _, _, token = create_account(store, "demo", "admin@demo.local")
        assets = {
            asset_id: store_bytes(store, "demo", asset_id, filename, content_type, data)
            for asset_id, filename, content_type, data in DEMO_ASSETS
        }
        yield Carton(resources, store, token, assets, LocalFunctions())
    config.settings.cache_clear()
    aws.reset()
