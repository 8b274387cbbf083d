"""What the local stack prints for people (and not as JSON): the time of day, and a line
per workflow step of each download — prepare, pack n..m of N, complete, failed, notify —
with how it ended and how long it took. The access log is carton_local.gateway's."""

from __future__ import annotations

import sys
import threading
from datetime import datetime
from typing import Any

# The workflow's functions, and what a step is called in the console.
STEPS = {
    "workflow_prepare": "prepare",
    "workflow_pack": "pack",
    "workflow_complete": "complete",
    "workflow_fail": "record failure",
    "workflow_notify": "notify",
}
# Errors the state machine retries the step on (infra.definition.RETRY): not a failure yet.
_RETRIED = ("StorageThrottled", "StorageUnavailable")


def clock() -> str:
    return datetime.now().strftime("%H:%M:%S.%f")[:-3]


class StepLog:
    """Called by LocalFunctions after each invocation (LocalFunctions.observer)."""

    def __init__(self) -> None:
        self._parts: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, function: str, event: Any, result: Any, error: dict[str, Any] | None, seconds: float) -> None:
        step = STEPS.get(function)
        if step is None or not isinstance(event, dict):
            return
        download_id = str(event.get("download_id", "?"))
        what = self._what(step, download_id, event, result if error is None else None)
        if error is not None:
            kind = str(error.get("errorType"))
            retried = " (retried by the workflow)" if kind in _RETRIED else ""
            outcome = f"{kind}: {str(error.get('errorMessage'))[:160]}{retried}"
        else:
            outcome = self._outcome(step, result)
        print(f"{clock()} download {download_id}  {what}  {outcome}  {seconds:.2f} s", file=sys.stdout, flush=True)

    def _what(self, step: str, download_id: str, event: dict[str, Any], result: Any) -> str:
        with self._lock:
            if step == "prepare" and isinstance(result, dict):
                self._parts[download_id] = int(result.get("parts", 0))
            if step == "pack":
                total = self._parts.get(download_id)
                of = f" of {total}" if total else ""
                return f"pack parts {event.get('first')}-{event.get('last')}{of}"
            if step in ("complete", "record failure"):
                self._parts.pop(download_id, None)
        if step == "notify":
            return f"notify ({event.get('event')})"
        return step

    @staticmethod
    def _outcome(step: str, result: Any) -> str:
        if not isinstance(result, dict):
            return "ok"
        if step == "prepare":
            return f"ok: {result.get('parts')} part(s) in {len(result.get('groups') or [])} group(s)"
        if step == "record failure" and isinstance(result.get("error"), dict):
            return f"failed: {result['error'].get('code')}: {result['error'].get('message')}"
        if step == "pack":
            copied, streamed = result.get("copied_bytes", 0), result.get("streamed_bytes", 0)
            return f"ok: {copied:,} bytes copied by S3, {streamed:,} streamed"
        return f"ok: {result.get('state', 'done')}" if "state" in result else "ok"
