"""CARTON_CONTEXT -> the CDK CLI's `--context key=value` arguments (make synth, deploy, destroy).

CARTON_CONTEXT holds `key=value` pairs separated by spaces, in shell quoting: quote a value
that contains spaces, e.g.

    CARTON_CONTEXT="cors_origins=https://app.example mail_from='Carton <no-reply@x.example>'"

`python -m infra.context` prints the arguments shell-quoted, for the Makefile to `eval`.
"""

from __future__ import annotations

import os
import re
import shlex
import sys

ENV = "CARTON_CONTEXT"
# CDK context keys: names such as mail_from, or feature flags such as @aws-cdk/core:x.
_KEY = re.compile(r"^[A-Za-z0-9_@/:.-]+$")


def context_arguments(text: str) -> list[str]:
    """`a=1 b='x y'` -> ["--context", "a=1", "--context", "b=x y"]; raises ValueError on other words."""
    try:
        words = shlex.split(text)
    except ValueError as error:  # an unclosed quote
        raise ValueError(f"{ENV}: {error}") from None
    arguments: list[str] = []
    for word in words:
        key, equals, _ = word.partition("=")
        if not equals or not _KEY.match(key):
            raise ValueError(f"{ENV}: {word!r} is not key=value (quote values that contain spaces)")
        arguments += ["--context", word]
    return arguments


def main() -> int:
    try:
        arguments = context_arguments(os.environ.get(ENV, ""))
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    print(shlex.join(arguments))
    return 0


if __name__ == "__main__":
    sys.exit(main())
