"""What the functions publish for the dashboard and the alarms (Powertools EMF on stdout)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.conftest import Carton
from tests.integration.test_workflow import new_download, run_workflow, step


def published(output: str) -> list[dict[str, Any]]:
    """Each EMF blob: its metrics (their values summed) and its dimensions."""
    found = []
    for line in output.splitlines():
        if line.startswith('{"_aws"'):
            blob = json.loads(line)
            (directive,) = blob["_aws"]["CloudWatchMetrics"]
            names = [metric["Name"] for metric in directive["Metrics"]]
            dimensions = {name: blob[name] for group in directive["Dimensions"] for name in group}
            values = {name: blob[name] if isinstance(blob[name], list) else [blob[name]] for name in names}
            found.append({"metrics": {name: sum(v) for name, v in values.items()}, "dimensions": dimensions})
    return found


@pytest.fixture
def metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")


def test_a_completed_download_publishes_its_count_bytes_and_duration(
    carton: Carton, metrics_on: None, capsys: Any
) -> None:
    download_id = new_download(carton, ["demo-logo", "demo-readme"])
    run_workflow(carton, download_id)
    blobs = published(capsys.readouterr().out)
    completed = next(blob for blob in blobs if "DownloadsCompleted" in blob["metrics"])
    size = carton.store.get_download("demo", download_id).size
    assert completed["metrics"]["BytesPackaged"] == size and completed["metrics"]["PackagingSeconds"] >= 0
    assert completed["dimensions"] == {"service": "carton"}


def test_a_failed_download_is_counted_and_counted_by_its_code(carton: Carton, metrics_on: None, capsys: Any) -> None:
    download_id = new_download(carton, ["demo-logo"])
    step(carton, "fail", {"download_id": download_id, "error": {"Error": "States.Timeout", "Cause": ""}})
    blobs = published(capsys.readouterr().out)
    by_code = [blob for blob in blobs if blob["dimensions"].get("code") == "timeout"]
    assert by_code and by_code[0]["metrics"]["DownloadsFailed"] == 1.0
    assert any(blob["dimensions"] == {"service": "carton"} and "DownloadsFailed" in blob["metrics"] for blob in blobs)
