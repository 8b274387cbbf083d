"""What EventBridge's rules do on AWS (infra/workflow.py): hand every packaging execution
that ended badly to the watcher function, once, as a "Step Functions Execution Status
Change" event (moto emits no such events, so this polls); and run the sweeper on a timer."""

from __future__ import annotations

import json
import threading
import traceback
from datetime import UTC
from typing import Any

import boto3

from carton.storage.schema import ENDED_BADLY, EXECUTION_ENDED_FUNCTION, EXECUTION_ENDED_RETRIES, SWEEPER_FUNCTION
from carton_local.lambdas import ACCOUNT, REGION, FunctionError, LocalFunctions

POLL_SECONDS = 1.0


def status_change_event(execution: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge event AWS sends for an execution (what the watcher function reads)."""
    return {
        "version": "0",
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "account": ACCOUNT,
        "region": REGION,
        "time": execution["stopDate"].astimezone(UTC).isoformat() if execution.get("stopDate") else None,
        "resources": [execution["executionArn"]],
        "detail": {
            "executionArn": execution["executionArn"],
            "stateMachineArn": execution["stateMachineArn"],
            "name": execution["name"],
            "status": execution["status"],
            "input": execution.get("input"),
        },
    }


class ExecutionWatcher(threading.Thread):
    def __init__(self, functions: LocalFunctions, state_machine_arn: str, stop: threading.Event) -> None:
        super().__init__(name="execution-watcher", daemon=True)
        self._functions, self._machine, self._stop = functions, state_machine_arn, stop
        self._seen: set[str] = set()
        self._attempts: dict[str, int] = {}

    def run(self) -> None:
        stepfunctions = boto3.client("stepfunctions", region_name=REGION)
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.sweep(stepfunctions)
            except Exception:  # keep watching; the next sweep tries again
                traceback.print_exc()

    def sweep(self, stepfunctions: Any) -> int:
        """Hand each newly ended execution to the watcher function; how many were handed.
        A failing hand-over is tried again on later sweeps, at most as often as EventBridge
        retries (the target's retry_attempts), then left with its error printed."""
        handed = 0
        for status in ENDED_BADLY:
            pages = stepfunctions.get_paginator("list_executions").paginate(
                stateMachineArn=self._machine, statusFilter=status
            )
            for summary in (execution for page in pages for execution in page["executions"]):
                arn = summary["executionArn"]
                if arn in self._seen or self._attempts.get(arn, 0) > EXECUTION_ENDED_RETRIES:
                    continue
                execution = stepfunctions.describe_execution(executionArn=arn)
                try:
                    self._functions.invoke(EXECUTION_ENDED_FUNCTION, status_change_event(execution))
                except FunctionError as error:
                    self._attempts[arn] = self._attempts.get(arn, 0) + 1
                    print(json.dumps({"execution_ended": arn, "error": error.payload.get("errorType")}))
                    continue
                self._seen.add(arn)
                handed += 1
        return handed


class SweepTimer(threading.Thread):
    """The sweeper's schedule (EventBridge's rate rule on AWS): every `every` seconds."""

    def __init__(self, functions: LocalFunctions, every: float, stop: threading.Event) -> None:
        super().__init__(name="sweeper", daemon=True)
        self._functions, self._every, self._stop = functions, every, stop

    def run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                outcomes = self._functions.invoke(SWEEPER_FUNCTION, {"source": "aws.events", "detail": {}})
            except FunctionError as error:
                print(json.dumps({"sweep": "failed", "error": error.payload.get("errorType")}))
                continue
            if any(name not in ("busy", "ended", "gone") for name in outcomes or {}):
                print(json.dumps({"sweep": outcomes}))
