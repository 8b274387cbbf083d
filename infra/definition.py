"""The workflow definition: one ASL file for the deployed and the local state machine.

Its `${placeholders}` are function names (folders under `functions/`); CDK fills them
with definition_substitutions, the local stack with its local function ARNs. Retry,
Catch and TimeoutSeconds are applied here, uniformly, to every Task state.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from carton.shared.errors import StorageThrottled, StorageUnavailable
from infra.permissions import DEFAULT_SIZING, SIZING

ASL_FILE = Path(__file__).with_name("workflow.asl.json")
FAILURE_STATE = "RecordFailure"
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")

# Faults that pass: of the Lambda service itself (Step Functions' "Handle Lambda service
# exceptions" best practice, plus throttling), and of S3 and DynamoDB as the steps report
# them (carton.shared.errors.retried_by_the_workflow). Every step is safe to run again; our own
# errors are not retried, since packaging the same bytes again would fail the same way.
TRANSIENT_ERRORS = [
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    StorageThrottled.__name__,
    StorageUnavailable.__name__,
]
# Lambda refusing for lack of concurrency (the pack workers' reservation is full while other
# downloads pack): their turn comes, so wait longer for it — about ten minutes in all.
LAMBDA_THROTTLED_RETRY = {
    "ErrorEquals": ["Lambda.TooManyRequestsException"],
    "IntervalSeconds": 5,
    "MaxAttempts": 12,
    "BackoffRate": 1.5,
    "MaxDelaySeconds": 60,
    "JitterStrategy": "FULL",
}
# 2, 4, 8, 16, 32, 60 s at most, each drawn at random below that (full jitter), so that
# workers throttled together do not come back together.
RETRY = {
    "ErrorEquals": TRANSIENT_ERRORS,
    "IntervalSeconds": 2,
    "MaxAttempts": 6,
    "BackoffRate": 2.0,
    "MaxDelaySeconds": 60,
    "JitterStrategy": "FULL",
}
CATCH = {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": FAILURE_STATE}


def task_function(state: dict[str, Any]) -> str | None:
    """The function a Task invokes: the placeholder in its FunctionName."""
    match = _PLACEHOLDER.fullmatch(str(state.get("Parameters", {}).get("FunctionName", "")))
    return match.group(1) if match else None


def _decorate(states: dict[str, Any], top_level: bool = True) -> None:
    for name, state in states.items():
        if state.get("Type") == "Task":
            function = task_function(state)
            if "TimeoutSeconds" in state or function is None:
                raise ValueError(f"{name}: invoke a ${{function}}; its timeout comes from infra/permissions.py SIZING")
            # Step Functions gives up when Lambda stops the function (its clock starts a
            # little earlier), so a step that runs out of time fails as States.Timeout.
            state["TimeoutSeconds"] = SIZING.get(function, DEFAULT_SIZING)[1]
            own = state.get("Retry", [])
            # States.ALL may only be the last retrier, and already covers the transient faults.
            if not any("States.ALL" in retrier["ErrorEquals"] for retrier in own):
                state["Retry"] = [*own, LAMBDA_THROTTLED_RETRY, RETRY]
        # A Catch may only lead to a state of its own level: inside a Map, errors end the
        # iteration and the Map's own Catch takes them to RecordFailure.
        if top_level and state.get("Type") in ("Task", "Map") and name != FAILURE_STATE:
            state.setdefault("Catch", [CATCH])
        for nested in ("Iterator", "ItemProcessor"):
            if nested in state:
                _decorate(state[nested]["States"], top_level=False)


def with_concurrency(template: str, concurrency: int) -> str:
    """The definition with the Pack map's MaxConcurrency set (how many workers at once)."""
    document = json.loads(template)
    for state in document["States"].values():
        if state.get("Type") == "Map":
            state["MaxConcurrency"] = concurrency
    return json.dumps(document, indent=2)


def definition_template() -> str:
    """The ASL with TimeoutSeconds, Retry and Catch applied and `${placeholders}` left in place."""
    document = json.loads(ASL_FILE.read_text())
    _decorate(document["States"])
    return json.dumps(document, indent=2)


def placeholders(template: str | None = None) -> list[str]:
    """The function names the definition refers to, each once, in order."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(template or definition_template())))


def render(substitutions: dict[str, str]) -> str:
    """The definition with every placeholder replaced (as the local stack runs it)."""
    template = definition_template()
    missing = set(placeholders(template)) - substitutions.keys()
    if missing:
        raise KeyError(f"no value for placeholders: {sorted(missing)}")
    return _PLACEHOLDER.sub(lambda match: substitutions[match.group(1)], template)
