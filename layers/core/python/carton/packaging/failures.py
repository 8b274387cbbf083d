"""What a failure the workflow caught means for the client: a stable code and a sentence."""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from carton.downloads.models import DownloadError
from carton.shared.errors import PackagingError
from carton.shared.observability import logger
from carton.storage.schema import STALLED_AFTER_SECONDS

_CODED_MESSAGE = re.compile(r"^(\w+): (.*)$", re.DOTALL)

# What a failure the state machine caught means for the client: a stable code and a
# sentence for people. Only Carton's own PackagingErrors carry their message through;
# anything else (a crash, a timeout, the service) is named, and its text stays in the logs.
_FAILURES: dict[str, tuple[str, str]] = {
    "States.Timeout": ("timeout", "a packaging step ran out of time; creating the download again usually works"),
    "Sandbox.Timedout": ("timeout", "a packaging step ran out of time; creating the download again usually works"),
    # An execution that ended without reaching RecordFailure (see execution_ended).
    "Execution.FAILED": ("internal_error", "packaging failed inside Carton; the operators have the details"),
    "Execution.TIMED_OUT": ("timeout", "packaging ran out of time; creating the download again usually works"),
    "Execution.ABORTED": ("interrupted", "packaging was stopped before it finished; create the download again"),
    # An execution that succeeded without completing its download (its last update was lost).
    "Execution.SUCCEEDED": ("internal_error", "packaging failed inside Carton; the operators have the details"),
    # Found by the sweeper (carton.downloads.sweeper).
    "Sweeper.Stalled": (
        "stalled",
        f"packaging made no progress for {STALLED_AFTER_SECONDS // 60} minutes and was stopped; "
        "create the download again",
    ),
    "Sweeper.Lost": ("interrupted", "packaging lost track of this download; create the download again"),
    "StorageUnavailable": ("storage_unavailable", "S3 could not be reached for too long; try again in a few minutes"),
    "StorageThrottled": (
        "storage_busy",
        "S3 throttled Carton's requests for too long; try again in a few minutes",
    ),
    "States.TaskFailed": ("internal_error", "packaging failed inside Carton; the operators have the details"),
}
_LAMBDA_UNAVAILABLE = ("service_unavailable", "the packaging service was unavailable; try again in a few minutes")
_INTERNAL = ("internal_error", "packaging failed inside Carton; the operators have the details")


def error_from(failure: dict[str, Any]) -> DownloadError:
    """The error the state machine caught ({"Error": type, "Cause": Lambda's JSON}), as
    the client may see it."""
    kind = str(failure.get("Error") or "error")
    cause = str(failure.get("Cause") or "")
    message = cause
    with contextlib.suppress(ValueError, AttributeError):  # a Cause that is not Lambda's JSON
        message = str(json.loads(cause).get("errorMessage") or cause)
    if kind == PackagingError.__name__ and (coded := _CODED_MESSAGE.match(message)):
        return DownloadError(code=coded.group(1), message=coded.group(2)[:1000])
    if kind in _FAILURES:
        code, sentence = _FAILURES[kind]
    else:
        code, sentence = _LAMBDA_UNAVAILABLE if kind.startswith("Lambda.") else _INTERNAL
    # Carton's own fault pages someone (an error in the logs); a stop, a timeout or the
    # service's hiccup is worth knowing but expected now and then.
    log = logger.error if code == _INTERNAL[0] else logger.warning
    log("download failed", error_type=kind, cause=cause[:4000], code=code)
    return DownloadError(code=code, message=sentence)
