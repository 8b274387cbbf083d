"""How the CLI shows things: tables for people, JSON for scripts (`--output json`), progress
bars on a terminal and plain lines elsewhere (a log, a pipe, CI)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table


def human_bytes(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _console(*, stderr: bool) -> Console:
    """A terminal's own width; elsewhere (a pipe, a file) tables are never cut to 80 columns."""
    console = Console(stderr=stderr, soft_wrap=True)
    if not console.is_terminal:
        console = Console(stderr=stderr, soft_wrap=True, width=4096)
    return console


@dataclass
class Output:
    """Where and how results and progress go."""

    json: bool = False
    quiet: bool = False
    out: Console = field(default_factory=lambda: _console(stderr=False))
    err: Console = field(default_factory=lambda: _console(stderr=True))

    @property
    def live(self) -> bool:
        """Progress bars only on a terminal, never under --quiet or --output json."""
        return self.err.is_terminal and not self.quiet and not self.json

    def note(self, text: str) -> None:
        """A line for people (stderr: stdout stays the result)."""
        if not self.quiet:
            self.err.print(text, markup=False, highlight=False)

    def result(self, value: BaseModel | Sequence[BaseModel] | dict[str, Any], columns: Sequence[str]) -> None:
        """One record or a list: JSON, or a table of `columns`."""
        items = value if isinstance(value, Sequence) else [value]
        if self.json:
            dumped = [item.model_dump(mode="json") if isinstance(item, BaseModel) else item for item in items]
            sys.stdout.write(json.dumps(dumped if isinstance(value, Sequence) else dumped[0], indent=2) + "\n")
            return
        rows = [item.model_dump(mode="json") if isinstance(item, BaseModel) else item for item in items]
        if not isinstance(value, Sequence) and len(rows) == 1:
            table = Table(show_header=False, box=None)
            for name, cell in rows[0].items():
                table.add_row(name, _cell(cell))
        else:
            table = Table(*columns, box=None)
            for row in rows:
                table.add_row(*(_cell(row.get(column)) for column in columns))
        self.out.print(table)

    def progress(self, unit: str) -> Bar:
        return Bar(self, unit)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


class Bar:
    """A progress bar over files and bytes; off a terminal, a plain line at most every few
    seconds (and at the end)."""

    PLAIN_EVERY = 5.0

    def __init__(self, output: Output, unit: str) -> None:
        self.output, self.unit = output, unit
        self.rich: Progress | None = None
        self.bytes: TaskID | None = None
        self.last_line = 0.0
        self.state = (0, 0, 0, 0)
        if output.live:
            self.rich = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=output.err,
            )

    def __enter__(self) -> Bar:
        if self.rich is not None:
            self.rich.start()
            self.bytes = self.rich.add_task(self.unit, total=None)
        return self

    def __exit__(self, *_: object) -> None:
        if self.rich is not None:
            self.rich.stop()
        else:
            self._line(force=True)

    def update(self, *, files_done: int, files_total: int, bytes_done: int, bytes_total: int) -> None:
        self.state = (files_done, files_total, bytes_done, bytes_total)
        if self.rich is not None and self.bytes is not None:
            self.rich.update(
                self.bytes,
                completed=bytes_done,
                total=bytes_total or None,
                description=f"{self.unit} {files_done}/{files_total} files" if files_total else self.unit,
            )
        else:
            self._line()

    def _line(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.output.quiet or self.output.json or (not force and now - self.last_line < self.PLAIN_EVERY):
            return
        self.last_line = now
        files_done, files_total, bytes_done, bytes_total = self.state
        share = f" ({100 * bytes_done // bytes_total}%)" if bytes_total else ""
        files = f"{files_done}/{files_total} files, " if files_total else ""
        self.output.note(f"{self.unit}: {files}{human_bytes(bytes_done)} of {human_bytes(bytes_total)}{share}")


def plain_table(output: Output, rows: Iterable[Sequence[str]], columns: Sequence[str]) -> None:
    """A summary table (to stderr: it is for people, the result is on stdout)."""
    if output.quiet or output.json:
        return
    table = Table(*columns, box=None)
    for row in rows:
        table.add_row(*row)
    output.err.print(table)
