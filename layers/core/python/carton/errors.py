"""Domain errors. Core code raises these; `carton.http` maps them to responses.

Every error carries a client-facing message and optional per-field reasons, which
become the one error body used everywhere: {"message": ..., "errors": {field: [...]}}.
"""

from __future__ import annotations

from http import HTTPStatus


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
