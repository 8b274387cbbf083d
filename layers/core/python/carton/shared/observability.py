"""Logger, Tracer and Metrics shared by every function, and the one decorator that
wires them around a Lambda entry point."""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

SERVICE = "carton"
# One namespace per deployed stack (infra sets it: staging and production may share an
# account); "Carton" where nothing says otherwise (the local stack, the tests).
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "Carton"

logger = Logger(service=SERVICE)
# Carton's own calls go through botocore (AWS) and http.client (webhooks, URL imports): patch
# those, not every library X-Ray knows that happens to be installed (patching them all loads
# httpx and more on every cold start: about 80 ms of CPU).
tracer = Tracer(service=SERVICE, patch_modules=["botocore", "httplib"])
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

# Most functions publish no metric of their own on most calls; that is not a problem.
warnings.filterwarnings("ignore", message="No application metrics to publish")

Handler = Callable[[Any, Any], Any]

__all__ = ["MetricUnit", "entrypoint", "logger", "measure", "metrics", "tracer"]


def measure(name: str, value: float = 1, unit: MetricUnit = MetricUnit.Count, **dimensions: str) -> None:
    """A metric of this invocation (flushed at its end), under the service dimension the
    dashboard reads; with dimensions of its own (e.g. a failure's code), published apart."""
    if not dimensions:
        metrics.add_metric(name=name, unit=unit, value=value)
        return
    if is_metrics_disabled():
        return
    with single_metric(
        name=name, unit=unit, value=value, namespace=NAMESPACE, default_dimensions={"service": SERVICE}
    ) as metric:
        for key, text in dimensions.items():
            metric.add_dimension(name=key, value=text)


def entrypoint(handler: Handler) -> Handler:
    """Structured logs with the Lambda context, an X-Ray segment, flushed metrics."""
    traced = tracer.capture_lambda_handler(handler, capture_response=False)
    measured = _metrics_dropped_when_disabled(metrics.log_metrics(traced))
    wrapped: Handler = logger.inject_lambda_context(measured, clear_state=True)
    return wrapped


def _metrics_dropped_when_disabled(handler: Handler) -> Handler:
    """With POWERTOOLS_METRICS_DISABLED (the local stack, the tests) Powertools neither prints
    nor clears the metrics an invocation added: they pile up across invocations, and the
    100th value of one metric is printed as an EMF blob anyway. Drop them after each call."""

    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            if is_metrics_disabled():
                metrics.clear_metrics()

    return run
