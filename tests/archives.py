"""Checking a built archive with every reader on this machine: Python's zipfile, unzip,
7z and bsdtar (the tests and the benchmark both use this)."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

READERS = {
    "unzip": ["unzip", "-tqq"],
    "7z": ["7z", "t", "-bd", "-ba"],
    "bsdtar": ["bsdtar", "-tf"],
}


class ArchiveRejected(AssertionError):
    pass


def missing_readers() -> list[str]:
    return [name for name in READERS if shutil.which(name) is None]


def verify_archive(path: Path, expected_names: list[str] | None = None) -> list[str]:
    """Raise ArchiveRejected unless every reader accepts the archive; returns the readers used.

    In CI a missing reader is an error (`make test` installs them); elsewhere it is skipped.
    """
    with zipfile.ZipFile(path) as archive:
        bad = archive.testzip()
        if bad is not None:
            raise ArchiveRejected(f"zipfile: CRC mismatch in {bad}")
        names = archive.namelist()
        if expected_names is not None and names != expected_names:
            raise ArchiveRejected(f"zipfile: names {names[:5]}… differ from {expected_names[:5]}…")
    used = ["zipfile"]
    missing = missing_readers()
    if missing and os.environ.get("CI"):
        raise ArchiveRejected(f"readers missing in CI: {', '.join(missing)} (make tools)")
    for name, command in READERS.items():
        if name in missing:
            continue
        result = subprocess.run([*command, str(path)], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ArchiveRejected(f"{name} rejected {path.name}:\n{(result.stdout + result.stderr)[-2000:]}")
        used.append(name)
    return used
