"""Safe, unique names for archive entries and stored objects: pure code, no I/O.

A name from a client (a file name, a template's output) becomes a relative path that
every unzip tool and file system can create, and that can never escape the folder it is
extracted to.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import PurePosixPath

# Names are bounded so that every unzip tool and file system can create them.
MAX_COMPONENT_BYTES = 200
MAX_NAME_BYTES = 1000
_RESERVED = set('<>:"|?*')
_DRIVE = re.compile(r"^(?:/*[A-Za-z]:)+")
_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{n}" for p in ("COM", "LPT") for n in range(1, 10)}


def _truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


def _safe_component(component: str) -> str:
    cleaned = "".join(
        "_" if ch in _RESERVED else ch
        for ch in component
        if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    # Windows drops trailing dots and spaces, which would merge distinct names.
    cleaned = cleaned.strip().rstrip(". ")
    if cleaned in ("", ".", ".."):
        return ""
    stem, dot, suffix = cleaned.partition(".")
    if stem.upper() in _WINDOWS_DEVICES:
        cleaned = f"_{stem}{dot}{suffix}"
    if len(cleaned.encode("utf-8")) > MAX_COMPONENT_BYTES:
        path = PurePosixPath(cleaned)
        ext = _truncate_utf8(path.suffix, 20) if path.suffix else ""
        cleaned = (
            _truncate_utf8(cleaned[: len(cleaned) - len(path.suffix)], MAX_COMPONENT_BYTES - len(ext.encode())) + ext
        )
    return cleaned


def safe_entry_name(raw: str, fallback: str = "file") -> str:
    """A relative, normalised archive path that can never escape the extraction folder.

    Backslashes count as separators, `.`/`..`/empty components and drive letters are
    dropped, control characters removed, characters Windows forbids replaced.
    """
    text = _DRIVE.sub("", unicodedata.normalize("NFC", raw).replace("\\", "/"))
    parts = [part for part in map(_safe_component, text.split("/")) if part]
    name = "/".join(parts) or fallback
    while len(name.encode("utf-8")) > MAX_NAME_BYTES and "/" in name:
        name = name.split("/", 1)[1]
    return _truncate_utf8(name, MAX_NAME_BYTES) or fallback


def _with_counter(name: str, counter: int) -> str:
    path = PurePosixPath(name)
    stem = name[: len(name) - len(path.suffix)] if path.suffix else name
    return f"{stem} ({counter}){path.suffix}"


def unique_names(names: Iterable[str]) -> list[str]:
    """Make names unique ignoring case, in order: `a.jpg`, `A.jpg` -> `a.jpg`, `A (1).jpg`."""
    wanted = list(names)
    taken: set[str] = set()
    result: list[str] = []
    for name in wanted:
        candidate, counter = name, 0
        while candidate.casefold() in taken:
            counter += 1
            candidate = _with_counter(name, counter)
        taken.add(candidate.casefold())
        result.append(candidate)
    return result
