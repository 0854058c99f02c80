"""What the console's pages show, computed without HTTP: the list page's URL filters turned
into the `GET /v2/cloudimages` query (so the console lists through the same parser, plan and
keyset paging as the API), and the few formats a page needs (sizes, times, badges)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson

from openims.domain import documents, jobs, registry
from openims.domain.access import MEMBER_STATUSES, Caller
from openims.domain.jobs import Job
from openims.domain.query import Params, Sort, complete_sort

TABS = ("public", "private", "shared")
PAGE_SIZES = (10, 20, 50, 100)
DEFAULT_PAGE_SIZE = 20
# the list's filters: (URL name, IMS parameter, label, choices or None for free text)
FILTERS: tuple[tuple[str, str, str, tuple[str, ...] | None], ...] = (
    ("os_type", "__os_type", "OS type", registry.OS_TYPES),
    ("platform", "__platform", "Platform", registry.PLATFORMS),
    ("status", "status", "Status", registry.STATUSES),
    ("disk_format", "disk_format", "Disk format", registry.DISK_FORMATS),
    ("name", "name", "Name", None),
    ("tag", "tag", "Tag", None),
)
# the columns, and the attribute each sorts by (the URL's `sort`): IMS's sort keys, and for
# OS and Type two more that `GET /v2/cloudimages` does not offer but the store sorts by alike
# (sortable and indexed in the registry). The OS column shows `__os_version`, else
# `__os_type`; it sorts by `__os_version`, so images without one come first in ascending order.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("Name", "name"),
    ("Status", "status"),
    ("OS", "__os_version"),
    ("Type", "__imagetype"),
    ("Disk format", "disk_format"),
    ("Size", "size"),
    ("Created", "created_at"),
)
SORT_KEYS = tuple(key for _label, key in COLUMNS)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
BADGES = {
    "active": "ok",
    "queued": "wait",
    "saving": "wait",
    "importing": "wait",
    "uploading": "wait",
    "killed": "bad",
    "deleted": "bad",
    "deactivated": "off",
}


@dataclass
class ListView:
    """The list page's state as its URL holds it. Unknown values fall back to the defaults;
    values for the API's own filters are passed on, so the API's parser judges them."""

    tab: str = "public"
    member_status: str = "accepted"
    filters: dict[str, str] = field(default_factory=dict)
    created_from: str = ""
    created_to: str = ""
    sort: str = "created_at"
    direction: str = "desc"
    marker: str = ""
    limit: int = DEFAULT_PAGE_SIZE

    @classmethod
    def from_query(cls, params: Params) -> ListView:
        given = {k: v for k, v in params}
        view = cls()
        if given.get("tab") in TABS:
            view.tab = given["tab"]
        if given.get("member_status") in MEMBER_STATUSES:
            view.member_status = given["member_status"]
        for name, _param, _label, _choices in FILTERS:
            value = given.get(name, "").strip()
            if value:
                view.filters[name] = value
        for name in ("created_from", "created_to"):
            value = given.get(name, "").strip()
            if _DATE.fullmatch(value):
                setattr(view, name, value)
        if given.get("sort") in SORT_KEYS:
            view.sort = given["sort"]
        if given.get("dir") in ("asc", "desc"):
            view.direction = given["dir"]
        view.marker = given.get("marker", "")[:255]
        if given.get("limit", "").isdigit() and int(given["limit"]) in PAGE_SIZES:
            view.limit = int(given["limit"])
        return view

    def ims_params(self, caller: Caller) -> Params:
        """The `GET /v2/cloudimages` query of this view, but for its order (`order`)."""
        params: list[tuple[str, str]] = []
        if self.tab == "public":
            params.append(("__imagetype", "gold"))
        elif self.tab == "private":
            params.append(("owner", caller.project_id))
        else:
            params += [("visibility", "shared"), ("member_status", self.member_status)]
        for name, param, _label, _choices in FILTERS:
            if name in self.filters:
                params.append((param, self.filters[name]))
        if self.created_from:
            params.append(("created_at", f"gte:{self.created_from}T00:00:00Z"))
        if self.created_to:
            params.append(("created_at", f"lte:{self.created_to}T23:59:59Z"))
        params.append(("limit", str(self.limit)))
        if self.marker:
            params.append(("marker", self.marker))
        return params

    def order(self) -> Sort:
        """The list's order: the column's attribute, then creation time and id, all in the
        view's direction (as `GET /v2/cloudimages` completes its one sort key)."""
        desc = self.direction == "desc"
        return complete_sort([(self.sort, desc)], ties_desc=desc)

    def query(self, **changes: Any) -> str:
        """This view's URL query, with `changes` (a value of None drops the parameter)."""
        pairs: dict[str, Any] = {"tab": self.tab}
        if self.tab == "shared":
            pairs["member_status"] = self.member_status
        pairs.update(self.filters)
        pairs["created_from"] = self.created_from
        pairs["created_to"] = self.created_to
        if (self.sort, self.direction) != ("created_at", "desc"):
            pairs["sort"], pairs["dir"] = self.sort, self.direction
        if self.limit != DEFAULT_PAGE_SIZE:
            pairs["limit"] = self.limit
        pairs["marker"] = self.marker
        pairs.update(changes)
        return urlencode({k: v for k, v in pairs.items() if v not in (None, "")})

    def sort_query(self, key: str) -> str:
        """The URL that sorts by `key`: ascending first, then the other way."""
        direction = "asc"
        if key == self.sort:
            direction = "desc" if self.direction == "asc" else "asc"
        return self.query(sort=key, dir=direction, marker=None)


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    name: str
    status: str
    badge: str
    os: str
    imagetype: str
    disk_format: str
    size: str
    created: str


def row(raw: bytes) -> Row:
    doc = documents.parse(raw)
    status = str(doc.get("status") or "")
    os_text = doc.get("__os_version") or doc.get("__os_type") or ""
    return Row(
        id=str(doc["id"]),
        name=str(doc.get("name") or ""),
        status=status,
        badge=BADGES.get(status, "off"),
        os=str(os_text),
        imagetype=str(doc.get("__imagetype") or ""),
        disk_format=str(doc.get("disk_format") or ""),
        size=human_size(image_size(doc)),
        created=short_time(doc.get("created_at")),
    )


def image_size(doc: dict[str, Any]) -> int | None:
    """The image's bytes: `size` once it has data, else IMS's `__image_size` when known."""
    for name in ("size", "__image_size"):
        value = doc.get(name)
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return None


def human_size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


def short_time(value: Any) -> str:
    """`2018-09-06T14:03:05Z` as `2018-09-06 14:03` (UTC, as the API's times are)."""
    if not isinstance(value, str):
        return ""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return value
    return parsed.strftime("%Y-%m-%d %H:%M")


def attributes(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """Every attribute of the document as (name, text), the registry's first, then custom
    ones; tags and members have sections of their own."""
    known = [(n, doc[n]) for n in registry.BY_NAME if n in doc and n != "tags"]
    custom = sorted(documents.custom_properties(doc).items())
    return [(name, _text(value)) for name, value in [*known, *custom]]


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    return str(value)


JOB_BADGES = {"SUCCESS": "ok", "INIT": "wait", "RUNNING": "wait", "FAIL": "bad"}


@dataclass(frozen=True, slots=True)
class JobRow:
    id: str
    job_type: str
    status: str
    badge: str
    percent: int
    image_id: str
    created: str
    ended: str
    failure: str


def job_row(job: Job) -> JobRow:
    image_id = job.entities.get("image_id")
    failure = " ".join(x for x in (job.error_code, job.fail_reason) if x)
    return JobRow(
        id=job.id,
        job_type=job.job_type,
        status=job.status,
        badge=JOB_BADGES.get(job.status, "off"),
        percent=round(job.progress * 100),
        image_id=image_id if isinstance(image_id, str) else "",
        created=short_time(jobs.render_time(job.created_at)),
        ended=short_time(jobs.render_time(job.end_at)) if job.end_at else "",
        failure=failure,
    )
