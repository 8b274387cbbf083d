"""What the local stack prints for people: a line per request and per workflow step."""

from __future__ import annotations

import re
from typing import Any

from carton_local.console import StepLog
from carton_local.gateway import access_line


def test_a_request_line_says_when_what_how_it_ended_how_long_and_which_request() -> None:
    line = access_line("POST", "/api/v1/downloads", 201, 0.0345, "req-1")
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} 201 POST   /api/v1/downloads  34 ms  req-1", line), line


def test_each_workflow_step_of_a_download_gets_one_line(capsys: Any) -> None:
    log = StepLog()
    log("workflow_prepare", {"download_id": "d1"}, {"parts": 3, "groups": [{}, {}]}, None, 0.4)
    log(
        "workflow_pack",
        {"download_id": "d1", "first": 1, "last": 2},
        {"copied_bytes": 0, "streamed_bytes": 9},
        None,
        0.1,
    )
    throttled = {"errorType": "StorageThrottled", "errorMessage": "part 3: SlowDown"}
    log("workflow_pack", {"download_id": "d1", "first": 3, "last": 3}, None, throttled, 0.2)
    failed = {"state": "failed", "error": {"code": "source_missing", "message": "gone"}}
    log("workflow_fail", {"download_id": "d1"}, failed, None, 0.1)
    log("get_download", {"download_id": "d1"}, {}, None, 0.1)  # not a step: nothing
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert "download d1  prepare  ok: 3 part(s) in 2 group(s)" in lines[0]
    assert "pack parts 1-2 of 3  ok: 0 bytes copied by S3, 9 streamed" in lines[1]
    assert "pack parts 3-3 of 3  StorageThrottled: part 3: SlowDown (retried by the workflow)" in lines[2]
    assert "record failure  failed: source_missing: gone" in lines[3]
