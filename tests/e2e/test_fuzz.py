"""Schemathesis against the local stack: every operation of the OpenAPI document, sent
generated requests (its examples, boundary and negative cases, then random ones), must
answer no 5xx, only documented status codes and content types, and bodies that conform
to the documented schemas.

The budget is CARTON_FUZZ_EXAMPLES random requests per operation (`make test` runs a few
thousand requests in all; `make fuzz` many more) with a fixed seed, CARTON_FUZZ_SEED, so a
failure replays. Only the local stack is fuzzed: the test creates users, keys, assets and
downloads, so it is skipped against a deployed stack (CARTON_API_URL).

Nothing leaves the machine: generated bodies never carry a URL the API would call (an art
URL to fetch, a webhook), which are replaced before sending (see `_local_only`).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any

import pytest
import schemathesis
from schemathesis import Case
from schemathesis.schemas import BaseSchema

from carton.web.routes import DEPLOYED_ROUTES
from tests.e2e.conftest import Api

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(bool(os.environ.get("CARTON_API_URL")), reason="fuzzing creates records: the local stack only"),
]

EXAMPLES_PER_OPERATION = int(os.environ.get("CARTON_FUZZ_EXAMPLES", "30"))
SEED = int(os.environ.get("CARTON_FUZZ_SEED", "20261123"))
MIN_REQUESTS = int(os.environ.get("CARTON_FUZZ_MIN_REQUESTS", "1000"))
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance")
REQUEST_TIMEOUT_SECONDS = 30

_CALLED = ("webhook_url", "webhook_secret")  # a webhook is resolved at create, and called later
_SAFE_ART = "SGVsbG8gZnJvbSB0aGUgZnV6eiB0ZXN0Lgo="  # base64 of a line of text
_sent: Counter[str] = Counter()
_started: list[float] = []


@pytest.fixture(scope="module")
def fuzzed(api: Api) -> BaseSchema:
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "suppress-health-check": ["all"],
            "base-url": api.base,
            "headers": {"Authorization": f"Token {api.token}"},
            "request-timeout": REQUEST_TIMEOUT_SECONDS,
            "generation": {"max-examples": EXAMPLES_PER_OPERATION, "database": "none", "mode": "all"},
            "phases": {"stateful": {"enabled": False}},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        }
    )
    return schemathesis.openapi.from_url(f"{api.base}/api/v1/openapi.json", config=config, timeout=30)


schema = schemathesis.pytest.from_fixture("fuzzed")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """Schemathesis 4.32 reads and rewrites `node._nodeid` (to name each operation's
    subtest), which pytest 9.2 no longer has: give it one, so it runs (names stay as pytest
    makes them)."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


def _local_only(body: Any) -> Any:
    """`body` without anything that would make the API call out: an http(s) `art` is fetched,
    a webhook_url is resolved and called. Such values become base64 art and no webhook."""
    if not isinstance(body, dict):
        return body
    cleaned = dict(body)
    art = cleaned.get("art")
    if isinstance(art, str) and art.strip().lower().startswith(("http:", "https:", "//")):
        cleaned["art"] = _SAFE_ART
    notify = cleaned.get("notify")
    if isinstance(notify, dict):
        cleaned["notify"] = {key: value for key, value in notify.items() if key not in _CALLED}
    return cleaned


@schema.parametrize()
def test_the_api_keeps_its_documented_contract(case: Case) -> None:
    if not _started:
        _started.append(time.monotonic())
    case.body = _local_only(case.body)
    _sent[case.operation.label] += 1
    case.call_and_validate(timeout=REQUEST_TIMEOUT_SECONDS)


def test_the_fuzz_spent_its_budget() -> None:
    """Runs after the fuzz (same module, in order): it made at least MIN_REQUESTS requests,
    to every operation of the document."""
    if not _sent:
        pytest.skip("the fuzz test did not run")
    seconds = time.monotonic() - _started[0]
    total = sum(_sent.values())
    print(f"fuzz: {total} requests to {len(_sent)} operations in {seconds:.0f} s (CARTON_FUZZ_SEED={SEED})")
    assert total >= MIN_REQUESTS, dict(_sent)
    assert len(_sent) == len(DEPLOYED_ROUTES), dict(_sent)


def test_the_documented_request_examples_are_accepted(api: Api) -> None:
    """What Swagger UI offers to send (the document's example bodies) works as is."""
    document = api.call("GET", "/api/v1/openapi.json", token=None).json()
    for path, method, accepted in (
        ("/api/v1/downloads", "post", {201}),
        ("/api/v1/assets/uploads", "post", {201}),
        ("/api/v1/assets", "post", {200, 201}),  # 200: the same bytes again
        ("/api/v1/account/tokens", "post", {201}),
    ):
        examples = document["paths"][path][method]["requestBody"]["content"]["application/json"]["examples"]
        for example in examples.values():
            reply = api.call(method.upper(), path, example["value"])
            assert reply.status in accepted, (path, reply.status, reply.body)
