"""Logger, Tracer and Metrics shared by every function, and the one decorator that
wires them around a Lambda entry point."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "carton"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="Carton", service=SERVICE)

# Most functions publish no metric of their own on most calls; that is not a problem.
warnings.filterwarnings("ignore", message="No application metrics to publish")

Handler = Callable[[Any, Any], Any]

__all__ = ["MetricUnit", "entrypoint", "logger", "metrics", "tracer"]


def entrypoint(handler: Handler) -> Handler:
    """Structured logs with the Lambda context, an X-Ray segment, flushed metrics."""
    traced = tracer.capture_lambda_handler(handler, capture_response=False)
    measured = metrics.log_metrics(traced)
    wrapped: Handler = logger.inject_lambda_context(measured, clear_state=True)
    return wrapped
