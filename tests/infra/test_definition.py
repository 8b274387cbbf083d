"""The rendered workflow definition: timeouts from SIZING, retries for Lambda faults and timeouts."""

from __future__ import annotations

import json
from typing import Any

from carton.storage.schema import FEED_VISIBILITY_TIMEOUT_SECONDS, S3_FEEDS, STALLED_AFTER_SECONDS
from infra.definition import (
    ASL_FILE,
    LAMBDA_THROTTLED_RETRY,
    RETRY,
    TRANSIENT_ERRORS,
    placeholders,
    render,
    task_function,
)
from infra.permissions import DEFAULT_SIZING, SIZING

# Steps that are safe to run twice: a run that timed out is retried.
RERUN_ON_TIMEOUT = {"Prepare", "PackParts", "Complete"}


def rendered() -> dict[str, Any]:
    """As the local stack runs it (CDK fills the same placeholders with the functions' ARNs)."""
    document: dict[str, Any] = json.loads(
        render({name: f"arn:aws:lambda:eu-west-1:123456789012:function:{name}" for name in placeholders()})
    )
    return document


def tasks(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, state in states.items():
        if state["Type"] == "Task":
            found[name] = state
        if "ItemProcessor" in state:
            found.update(tasks(state["ItemProcessor"]["States"]))
    return found


def test_complete_is_sized_for_the_worst_case() -> None:
    memory, timeout = SIZING["workflow_complete"]
    assert memory >= 1769 and timeout == 900


def test_every_task_times_out_with_its_function() -> None:
    found = tasks(rendered()["States"])
    assert set(found) >= RERUN_ON_TIMEOUT
    for name, state in found.items():
        function = state["Parameters"]["FunctionName"].rsplit(":", 1)[-1]
        assert state["TimeoutSeconds"] == SIZING.get(function, DEFAULT_SIZING)[1], name
    assert found["Prepare"]["TimeoutSeconds"] == SIZING["workflow_prepare"][1]
    assert found["Complete"]["TimeoutSeconds"] == SIZING["workflow_complete"][1]
    assert found["PackParts"]["TimeoutSeconds"] == SIZING["workflow_pack"][1]


def test_every_task_retries_transient_lambda_faults() -> None:
    assert "Lambda.ClientExecutionTimeoutException" in TRANSIENT_ERRORS
    assert "Lambda.TooManyRequestsException" in TRANSIENT_ERRORS
    for name, state in tasks(rendered()["States"]).items():
        if name == "RecordFailure":  # retries every error: States.ALL covers these and must come last
            assert state["Retry"] == [{**state["Retry"][0], "ErrorEquals": ["States.ALL"]}]
            assert state["Retry"][0]["MaxAttempts"] >= 5
            continue
        assert state["Retry"][-1] == RETRY, name


def test_only_the_rerunnable_steps_retry_a_timeout_and_only_once() -> None:
    for name, state in tasks(rendered()["States"]).items():
        on_timeout = [retrier for retrier in state["Retry"] if "States.Timeout" in retrier["ErrorEquals"]]
        if name not in RERUN_ON_TIMEOUT:
            assert not on_timeout, name
            continue
        assert len(on_timeout) == 1, name
        (retrier,) = on_timeout
        assert retrier["MaxAttempts"] == 1
        # The wait outlasts the timed-out invocation (Lambda stops it at its own timeout,
        # which starts counting after at most a 10 s init), so two runs never overlap.
        assert retrier["IntervalSeconds"] > 10
        assert state["Retry"].index(retrier) < state["Retry"].index(RETRY)


def test_no_task_declares_its_own_timeout_in_the_asl_file() -> None:
    raw = json.loads(ASL_FILE.read_text())
    for name, state in tasks(raw["States"]).items():
        assert "TimeoutSeconds" not in state, f"{name}: timeouts live in infra/permissions.py SIZING"
        assert task_function(state) in placeholders()


def test_the_sweeper_calls_a_download_stalled_only_after_any_step_could_have_finished() -> None:
    """Prepare (until it records its plan), a pack worker (until it adds its progress) and
    complete change nothing while they run. The sweeper's stall threshold must outlast the
    worst case of each — every timeout retry running out its timeout, plus the longest waits
    of the transient-fault retrier — or it would stop a download that is still working."""
    # A throttled pack worker waits its turn (up to about ten minutes) on top of the rest.
    transient_waits = sum(
        min(retrier["IntervalSeconds"] * retrier["BackoffRate"] ** attempt, retrier["MaxDelaySeconds"])
        for retrier in (RETRY, LAMBDA_THROTTLED_RETRY)
        for attempt in range(retrier["MaxAttempts"])
    )
    for name, state in tasks(rendered()["States"]).items():
        if name not in RERUN_ON_TIMEOUT:
            continue
        (on_timeout,) = [r for r in state["Retry"] if "States.Timeout" in r["ErrorEquals"]]
        runs = 1 + on_timeout["MaxAttempts"]
        worst = runs * state["TimeoutSeconds"] + on_timeout["IntervalSeconds"] * on_timeout["MaxAttempts"]
        assert worst + transient_waits <= STALLED_AFTER_SECONDS, name


def test_feed_queues_hide_a_message_six_times_as_long_as_its_function_may_run() -> None:
    """Lambda's rule for SQS event sources (services-sqs-configure): visibility timeout at
    least six times the function's timeout; Lambda refuses a mapping whose timeout exceeds it."""
    for feed in S3_FEEDS:
        assert 6 * SIZING.get(feed.function, DEFAULT_SIZING)[1] <= FEED_VISIBILITY_TIMEOUT_SECONDS, feed.function
