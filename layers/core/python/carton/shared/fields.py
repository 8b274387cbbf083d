"""Field types every feature's records and requests share: one line of text, free text,
e-mail addresses, and the clock records are stamped with."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from unicodedata import category as unicodedata_category

from pydantic import AfterValidator, BaseModel, ConfigDict

MAX_NAME_LENGTH = 200


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


MAX_TEXT = 5000


# Line breaks and tabs are text; other control characters are not (XML cannot even carry
# most of them), so they are refused where they arrive rather than stored.
_TEXT_CONTROLS = frozenset("\t\n\r")


def _no_controls(allowed: frozenset[str]) -> AfterValidator:
    def check(value: str) -> str:
        if any(unicodedata_category(ch) == "Cc" and ch not in allowed for ch in value):
            refused = (
                "line breaks and tabs are the only control characters allowed" if allowed else "no control characters"
            )
            raise ValueError(refused)
        return value

    return AfterValidator(check)


# One line of text (names, titles, tags) and free text (descriptions, notes).
Line = Annotated[str, _no_controls(frozenset())]


Text = Annotated[str, _no_controls(_TEXT_CONTROLS)]


EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$"


class Model(BaseModel):
    """Every record and wire shape: built when first used, not at import (a function builds
    only the models it touches, which keeps cold starts short)."""

    model_config = ConfigDict(defer_build=True)
