"""Lists over the table's list indexes: merged, filtered, paged by sort key.

A list is planned as phases (concatenated) of streams (index partitions, merged by
their shared sort key "<created_at>#<id>"). Filters that an index answers choose the
streams; the rest become a predicate. Each page queries each stream for at most one
page (+1) of items, so reads follow the page size, not the table.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from carton.storage.counters import CounterRecords
from carton.storage.schema import LIST_SORT_KEY, Index
from carton.web.paging import Cursor, PageRequest, Position, encode_cursor, envelope, link, parse_page_request

Item = dict[str, Any]
Predicate = Callable[[Item], bool]

# A Lambda response carries at most 6 MB, and one item may hold 10,000 asset ids: a page
# ends early (with a `next` link) once its items could render to more than this, in JSON
# or in the longer XML. Estimated from the stored items, so no read is wasted.
PAGE_BYTES = 4 * 1024 * 1024
# What rendering adds to a stored item: links, fields shown twice (file_name and
# zip_filename, user_email and created_by), the envelope's share.
RENDERED_OVERHEAD = 4096
# Characters that JSON or XML spell out longer: escaped quotes, backslashes, markup,
# control characters (JSON-escaped once in the body, once more inside Lambda's response).
_ESCAPED = re.compile(r'[&<>"\\\x00-\x1f]')


def rendered_weight(value: Any) -> int:
    """An upper bound of `value`'s size once rendered, as XML or as JSON inside Lambda's
    response: names twice (XML's open and close tags), each list entry its own <item>,
    strings doubled, non-ASCII as JSON's \\uXXXX escaped once more, escapes on top."""
    if isinstance(value, dict):
        return sum(2 * len(str(key)) + 8 + rendered_weight(item) for key, item in value.items())
    if isinstance(value, list | tuple | set):
        return sum(14 + rendered_weight(item) for item in value)
    if isinstance(value, str):
        size = len(value)
        return 2 * size + 5 * (len(value.encode()) - size) + 5 * len(_ESCAPED.findall(value)) + 8
    return 32


@dataclass(frozen=True)
class Phase:
    streams: tuple[tuple[Index | None, str], ...]  # (index or None for the table, partition value)
    keep: Predicate | None = None


@dataclass(frozen=True)
class ListPlan:
    phases: tuple[Phase, ...]
    ascending: bool
    lower: str | None = None  # inclusive sort-key bounds (from/to)
    upper: str | None = None
    # Streams of target items, each standing for the download it belongs to.
    via_targets: bool = False
    # Counters whose sum is the list's length; None: it is counted by walking the list.
    counters: tuple[str, ...] | None = None
    download_key: Callable[[Item], dict[str, str]] | None = None
    sort_attribute: str = LIST_SORT_KEY


@dataclass
class Page:
    items: list[Item]
    first: Position | None
    last: Position | None
    more: bool  # beyond this page, in the direction it was read
    items_read: int = 0


@dataclass
class _Reader:
    store: CounterRecords
    plan: ListPlan
    chunk: int
    items_read: int = 0

    def _stream(self, index: Index | None, partition: str, ascending: bool, after: str | None) -> Iterator[Item]:
        lower, upper = self.plan.lower, self.plan.upper
        if after is not None:
            if ascending:
                lower = after if lower is None or after > lower else lower
            else:
                upper = after if upper is None or after < upper else upper
        if lower is not None and upper is not None and lower > upper:
            return
        start: dict[str, Any] | None = None
        while True:
            items, start = self.store.query_index(
                index, partition, forward=ascending, lower=lower, upper=upper, limit=self.chunk, start=start
            )
            self.items_read += len(items)
            for item in items:
                if item[self.plan.sort_attribute] != after:
                    yield item
            if start is None:
                return

    def _downloads(self, targets: Iterator[Item]) -> Iterator[Item]:
        """The download items the target items stand for, in the same order."""
        download_key = self.plan.download_key or (lambda target: {})
        while True:
            batch = [target for _, target in zip(range(self.chunk), targets, strict=False)]
            if not batch:
                return
            keys = [download_key(target) for target in batch]
            found = {item["download_id"]: item for item in self.store.batch_get(keys)}
            self.items_read += len(found)
            for target in batch:
                if target["download_id"] in found:
                    yield found[target["download_id"]]

    def items(self, start: Position | None, backwards: bool) -> Iterator[tuple[int, Item]]:
        order = list(range(len(self.plan.phases)))
        if backwards:
            order.reverse()
        ascending = self.plan.ascending != backwards
        began = start is None
        for phase_index in order:
            if not began:
                if phase_index != start.phase:  # type: ignore[union-attr]
                    continue
                began = True
            after = start.sort_key if start is not None and phase_index == start.phase else None
            phase = self.plan.phases[phase_index]
            streams = [self._stream(index, partition, ascending, after) for index, partition in phase.streams]
            merged: Iterator[Item] = heapq.merge(
                *streams, key=lambda item: str(item[self.plan.sort_attribute]), reverse=not ascending
            )
            if self.plan.via_targets:
                merged = self._downloads(merged)
            for item in merged:
                if phase.keep is None or phase.keep(item):
                    yield phase_index, item


def read_page(store: CounterRecords, plan: ListPlan, request: PageRequest) -> Page:
    cursor: Cursor | None = request.cursor
    backwards = bool(cursor and cursor.backwards)
    # The page, one more to know whether there is a next page, and one more because
    # merging streams looks one item ahead of what it hands out.
    reader = _Reader(store, plan, chunk=request.limit + 2)
    found: list[tuple[int, Item]] = []
    skipped, weight, full = 0, 0, False
    for entry in reader.items(cursor.position if cursor else None, backwards):
        if skipped < request.offset:
            skipped += 1
            continue
        weight += rendered_weight(entry[1]) + RENDERED_OVERHEAD
        if found and weight > PAGE_BYTES:
            full = True  # the rest waits for the next page
            break
        found.append(entry)
        if len(found) > request.limit:
            break
    more = full or len(found) > request.limit
    found = found[: request.limit]
    if backwards:
        found.reverse()
    positions = [Position(phase, item[plan.sort_attribute]) for phase, item in found]
    return Page(
        items=[item for _, item in found],
        first=positions[0] if positions else None,
        last=positions[-1] if positions else None,
        more=more,
        items_read=reader.items_read,
    )


def count_by_walking(store: CounterRecords, plan: ListPlan) -> tuple[int, int]:
    """How many items the list holds, and how many items were read to find out."""
    reader = _Reader(store, plan, chunk=1000)
    total = sum(1 for _ in reader.items(None, backwards=False))
    return total, reader.items_read


def count(store: CounterRecords, plan: ListPlan, account_id: str, counters: dict[str, int] | None = None) -> int:
    values = counters if counters is not None else store.counters(account_id)
    return sum(max(values.get(name, 0), 0) for name in plan.counters or ())


def page_links(
    page: Page,
    request: PageRequest,
    make_link: Callable[[Position, bool], str],
) -> tuple[str | None, str | None]:
    """(next, previous) links of a page; both carry cursors."""
    going_back = bool(request.cursor and request.cursor.backwards)
    has_next = page.more if not going_back else True
    has_previous = page.more if going_back else (request.cursor is not None or request.offset > 0)
    next_link = make_link(page.last, False) if has_next and page.last else None
    previous_link = make_link(page.first, True) if has_previous and page.first else None
    return next_link, previous_link


def paged(
    store: CounterRecords,
    plan: ListPlan,
    parameters: Mapping[str, str],
    cursor_key: bytes,
    url: str,
    query_fingerprint: str,
    *,
    account_id: str = "",
    total: int | None = None,
) -> tuple[dict[str, Any], Page]:
    """One page of a list and its envelope (results left for the caller to render).

    The count is `total` when the caller knows it, else the list's counters, else — on
    the first page only — a walk of the list, carried in the cursors after that.
    """
    request = parse_page_request(parameters, cursor_key, query_fingerprint)
    page = read_page(store, plan, request)
    if total is None and plan.counters is not None:
        total = count(store, plan, account_id)
        page.items_read += 1
    elif total is None and request.cursor is not None and request.cursor.count is not None:
        total = request.cursor.count
    elif total is None:
        total, read = count_by_walking(store, plan)
        page.items_read += read
    carried = total if plan.counters is None else None

    def cursor_link(position: Position, backwards: bool) -> str:
        cursor = Cursor(position, backwards, query_fingerprint, carried)
        return link(url, parameters, encode_cursor(cursor, cursor_key), request.limit)

    next_link, previous_link = page_links(page, request, cursor_link)
    return envelope(total, next_link, previous_link, []), page
