"""The one decorator around every Lambda entry point."""

from __future__ import annotations

from typing import Any

import pytest

from carton.shared.observability import MetricUnit, entrypoint, metrics
from carton_local.lambdas import LambdaContext


def test_disabled_metrics_never_pile_up_nor_print(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    """Powertools keeps what a disabled invocation added, and prints the 100th value anyway."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")

    def handler(event: Any, context: Any) -> int:
        metrics.add_metric(name="Counted", unit=MetricUnit.Count, value=1)
        return 1

    wrapped = entrypoint(handler)
    for _ in range(150):
        assert wrapped({}, LambdaContext(function_name="counting")) == 1
    assert "_aws" not in capsys.readouterr().out
    assert not metrics.metric_set
