"""Domain errors. Core code raises these; `carton.web.http` maps them to responses.

Every error carries a client-facing message and optional per-field reasons, which
become the one error body used everywhere: {"message": ..., "errors": {field: [...]}}.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, ParamSpec, TypeVar

if TYPE_CHECKING:
    from botocore.exceptions import ClientError


class CartonError(Exception):
    status = HTTPStatus.INTERNAL_SERVER_ERROR

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class BadRequest(CartonError):
    status = HTTPStatus.BAD_REQUEST


class Unauthorized(CartonError):
    status = HTTPStatus.UNAUTHORIZED


class Forbidden(CartonError):
    status = HTTPStatus.FORBIDDEN


class NotFound(CartonError):
    status = HTTPStatus.NOT_FOUND


class Conflict(CartonError):
    status = HTTPStatus.CONFLICT


class Gone(CartonError):
    status = HTTPStatus.GONE


class PayloadTooLarge(CartonError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class UnsupportedMediaType(CartonError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


class ValidationFailed(CartonError):
    status = HTTPStatus.UNPROCESSABLE_ENTITY


class PackagingError(CartonError):
    """The archive could not be built; the workflow records it and fails the download."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def __str__(self) -> str:
        # Lambda reports only the type and str() of an error; the code must survive that.
        return f"{self.code}: {self.message}"


def error_code(error: ClientError) -> str:
    """The code of an AWS error (botocore's ClientError), e.g. "NoSuchKey"."""
    return str(error.response.get("Error", {}).get("Code", ""))


class StorageThrottled(Exception):
    """S3 or DynamoDB asked us to slow down (or a transaction met another on the same item):
    the workflow retries the step with backoff."""


class StorageUnavailable(Exception):
    """The connection to S3 or DynamoDB failed after the SDK's own retries, or mid-body (a
    reset while reading a range, which the SDK cannot retry), or the service answered 5xx:
    the workflow retries the step, which is safe to run again."""


# What S3 says about an object (a HEAD has no body, so its errors carry only the status code).
MISSING = ("NoSuchKey", "404", "NotFound")
FORBIDDEN = ("AccessDenied", "403", "Forbidden", "AllAccessDisabled")
CHANGED = ("PreconditionFailed", "412")

# Codes AWS gives to faults that pass: S3's (a HEAD carries only its status), DynamoDB's.
THROTTLED_CODES = frozenset(
    {
        "SlowDown",
        "503",
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
    }
)
UNAVAILABLE_CODES = frozenset({"ServiceUnavailable", "InternalError", "InternalServerError", "RequestTimeout", "500"})
# Why DynamoDB may cancel a transaction that would succeed when run again.
TRANSIENT_CANCELLATIONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


def transaction_conflicted(error: ClientError) -> bool:
    """Cancelled only for transient reasons: another transaction held an item, or a hot
    partition was throttled (no condition failed, nothing was invalid)."""
    if error_code(error) != "TransactionCanceledException":
        return False
    codes = {reason.get("Code") for reason in error.response.get("CancellationReasons", [])}
    return bool(codes & TRANSIENT_CANCELLATIONS) and codes <= TRANSIENT_CANCELLATIONS | {"None", None}


def as_transient(error: BaseException) -> Exception | None:
    """A fault that passes, as the error the workflow retries a step on; None for any other."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, ReadTimeoutError

    if isinstance(error, ClientError):
        code = error_code(error)
        if code in THROTTLED_CODES or transaction_conflicted(error):
            return StorageThrottled(code)
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in UNAVAILABLE_CODES or status >= 500:
            return StorageUnavailable(code or str(status))
    elif isinstance(error, ConnectionError | HTTPClientError | ReadTimeoutError):
        return StorageUnavailable(type(error).__name__)
    return None


P = ParamSpec("P")
R = TypeVar("R")


def retried_by_the_workflow(step: Callable[P, R]) -> Callable[P, R]:
    """A workflow step whose transient AWS faults reach Step Functions as StorageThrottled
    or StorageUnavailable, which its Retry (infra/definition.py) runs the step again on;
    every other error stays what it is."""

    @functools.wraps(step)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return step(*args, **kwargs)
        except Exception as error:
            transient = as_transient(error)
            if transient is None:
                raise
            raise transient from error

    return run
