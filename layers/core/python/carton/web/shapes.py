"""The envelopes every answer shares: a page of a list, and the error body."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from carton.shared.fields import Model

ItemT = TypeVar("ItemT", bound=BaseModel)


class ListOf(Model, Generic[ItemT]):
    """The envelope every list answers with; next/previous carry cursors."""

    count: int | None
    next: str | None
    previous: str | None
    results: list[ItemT]


class ErrorBody(Model):
    message: str
    errors: dict[str, list[str]] = Field(default_factory=dict)
