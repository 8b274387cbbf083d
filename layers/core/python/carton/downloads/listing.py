"""GET /downloads: filters and ordering turned into a list plan over the indexes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from carton.accounts.models import Principal, Role
from carton.assets.models import AssetId
from carton.downloads.models import Download, DownloadState, Target
from carton.shared.errors import Forbidden, ValidationFailed
from carton.storage.counters import counter_names
from carton.storage.keys import TARGET_PREFIX, download_key, index_partition, targets_partition
from carton.storage.listing import ListPlan, Page, Phase, paged
from carton.storage.schema import (
    BY_ACCOUNT_INDEX,
    BY_ASSET_INDEX,
    BY_STATE_INDEX,
    BY_TYPE_INDEX,
    BY_USER_INDEX,
    BY_USER_STATE_INDEX,
    TABLE_KEYS,
)
from carton.storage.table import record_of
from carton.store import Store
from carton.web.paging import fingerprint

Ordering = Literal["created_at", "-created_at", "complete", "-complete"]
INCOMPLETE = (DownloadState.PENDING, DownloadState.PACKAGING, DownloadState.FAILED, DownloadState.EXPIRED)


class DownloadFilters(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    complete: bool | None = None
    state: DownloadState | None = None
    uid: AssetId | None = None
    download_type: str | None = Field(default=None, min_length=1, max_length=64)
    from_: date | datetime | None = Field(default=None, alias="from")
    to: date | datetime | None = None
    user: str | None = Field(default=None, min_length=1, max_length=64)
    ordering: Ordering = "-created_at"

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _dates_first(cls, value: Any) -> Any:
        # "2026-11-23" is a date (the whole day), "2026-11-23T10:00:00Z" a moment.
        if isinstance(value, str) and len(value) == 10:
            return date.fromisoformat(value)
        return value

    @model_validator(mode="after")
    def _range(self) -> DownloadFilters:
        if self.from_ is not None and self.to is not None and _lower(self.from_) > _upper(self.to):
            raise ValueError("from must not be after to")
        return self

    def states(self) -> tuple[DownloadState, ...] | None:
        """The states the filters allow, or None when they do not constrain the state."""
        allowed: set[DownloadState] | None = None
        if self.complete is not None:
            allowed = {DownloadState.COMPLETE} if self.complete else set(INCOMPLETE)
        if self.state is not None:
            allowed = {self.state} & allowed if allowed is not None else {self.state}
        return None if allowed is None else tuple(s for s in DownloadState if s in allowed)


_SORT_KEY_TIME = "%Y-%m-%dT%H:%M:%SZ"


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _lower(value: date | datetime) -> str:
    """Inclusive lower sort-key bound: the moment, or the start of the day."""
    return _as_utc(value).strftime(_SORT_KEY_TIME) if isinstance(value, datetime) else value.isoformat()


def _upper(value: date | datetime) -> str:
    """Inclusive upper sort-key bound: the whole second of a moment, the whole day of a date."""
    moment = _as_utc(value) if isinstance(value, datetime) else datetime.combine(value, time.max)
    return moment.strftime(_SORT_KEY_TIME) + "#\uffff"


def parse_filters(parameters: Mapping[str, str]) -> DownloadFilters:
    try:
        return DownloadFilters.model_validate(dict(parameters))
    except ValidationError as error:
        errors: dict[str, list[str]] = {}
        for problem in error.errors():
            name = ".".join(str(part) for part in problem["loc"]) or "query"
            errors.setdefault("from" if name == "from_" else name, []).append(problem["msg"])
        raise ValidationFailed("Invalid filters", errors) from error


def plan_list(principal: Principal, filters: DownloadFilters) -> ListPlan:
    account = principal.account_id
    if principal.role is not Role.ADMIN and filters.user not in (None, principal.user_id):
        raise Forbidden("Members list their own downloads only", {"user": ["only admins may filter by user"]})
    user = principal.user_id if principal.role is not Role.ADMIN else filters.user
    states = filters.states()
    by_completion = filters.ordering in ("complete", "-complete")
    groups: list[tuple[DownloadState, ...]]
    if by_completion:
        incomplete = tuple(s for s in (states or DownloadState) if s is not DownloadState.COMPLETE)
        complete = tuple(s for s in (states or DownloadState) if s is DownloadState.COMPLETE)
        groups = [incomplete, complete] if filters.ordering == "complete" else [complete, incomplete]
        groups = [group for group in groups if group]
    else:
        groups = [states] if states is not None else [()]
    if states == ():
        groups = []

    def keep(group: tuple[DownloadState, ...], indexed: set[str]) -> Any:
        checks: list[Any] = []
        if "state" not in indexed and group:
            allowed = {state.value for state in group}
            checks.append(lambda item: item["state"] in allowed)
        if "user" not in indexed and user is not None:
            checks.append(lambda item: item["created_by"] == user)
        if "type" not in indexed and filters.download_type is not None:
            checks.append(lambda item: item["download_type"] == filters.download_type)
        return (lambda item: all(check(item) for check in checks)) if checks else None

    phases: list[Phase] = []
    for group in groups:
        if filters.uid is not None:
            stream = (BY_ASSET_INDEX, index_partition(BY_ASSET_INDEX, account, asset=filters.uid))
            phases.append(Phase((stream,), keep(group, set())))
        elif group:
            index = BY_USER_STATE_INDEX if user is not None else BY_STATE_INDEX
            streams = tuple(
                (index, index_partition(index, account, state=s.value, **({"user": user} if user else {})))
                for s in group
            )
            phases.append(Phase(streams, keep(group, {"state", "user"})))
        elif user is not None:
            phases.append(
                Phase(((BY_USER_INDEX, index_partition(BY_USER_INDEX, account, user=user)),), keep(group, {"user"}))
            )
        elif filters.download_type is not None:
            stream = (BY_TYPE_INDEX, index_partition(BY_TYPE_INDEX, account, type=filters.download_type))
            phases.append(Phase((stream,), None))
        else:
            phases.append(Phase(((BY_ACCOUNT_INDEX, index_partition(BY_ACCOUNT_INDEX, account)),), None))

    counters: tuple[str, ...] | None = None
    if states == ():
        counters = ()  # contradictory filters: nothing can match
    elif filters.uid is None and filters.from_ is None and filters.to is None:
        names = [
            counter_names(user=user, state=s.value if s else None, download_type=filters.download_type)
            for s in (states or (None,))
        ]
        counters = None if any(name is None for name in names) else tuple(n for n in names if n)
    return ListPlan(
        phases=tuple(phases),
        ascending=filters.ordering in ("created_at", "complete"),
        lower=_lower(filters.from_) if filters.from_ is not None else None,
        upper=_upper(filters.to) if filters.to is not None else None,
        via_targets=filters.uid is not None,
        counters=counters,
        download_key=lambda target: download_key(account, str(target["download_id"])),
    )


def list_downloads(
    principal: Principal,
    parameters: Mapping[str, str],
    store: Store,
    cursor_key: bytes,
    url: str,
) -> tuple[dict[str, Any], list[Download], Page]:
    """The envelope (without results rendered), the page's downloads and the raw page."""
    filters = parse_filters(parameters)
    plan = plan_list(principal, filters)
    print_ = fingerprint(account=principal.account_id, viewer=principal.user_id, **filters.model_dump(mode="json"))
    body, page = paged(store, plan, parameters, cursor_key, url, print_, account_id=principal.account_id)
    return body, [record_of(Download, item) for item in page.items], page


def list_targets(
    download: Download, parameters: Mapping[str, str], store: Store, cursor_key: bytes, url: str
) -> tuple[dict[str, Any], list[Target]]:
    """A page of a download's targets, ordered by asset id."""
    plan = ListPlan(
        phases=(Phase(((None, targets_partition(download.account_id, download.download_id)),)),),
        ascending=True,
        lower=TARGET_PREFIX,
        upper=TARGET_PREFIX + "\uffff",
        sort_attribute=TABLE_KEYS.sort_key,
    )
    print_ = fingerprint(download=download.download_id)
    body, page = paged(store, plan, parameters, cursor_key, url, print_, total=len(download.asset_ids))
    return body, [record_of(Target, item) for item in page.items]
