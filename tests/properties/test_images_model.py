"""`GET /v2/images` against a reference model, on SQLite and PostgreSQL.

Hypothesis draws a random catalog (ties on every sort key, images without a name or size) and
random valid Glance queries: a sort in either syntax with any valid number of directions, a
time filter in any ISO 8601 form Glance takes (offsets, fractions of a second, no zone), size
ranges (negative ones too) and a page size. The test follows the `next` links over HTTP; every
page must equal the same slice of what the reference below computes, so paging walks every
matching image exactly once, in order, whatever the mix of directions. The reference is written
from Glance's code (`_get_sorting_params`, `image_get_all`, `split_filter_op`) and parses times
with pyiso8601, Glance's own parser; it shares no code with the server's query path.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cmp_to_key
from typing import Any

import iso8601
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.catalogs import load
from tests.support.databases import empty
from tests.support.fixtures import server_fixture
from tests.support.servers import Server

# These tests look only at requests and responses: the application in this process serves them
# (tests.support.in_process; `pytest --real-servers` uses an `openims serve` process instead).
server = server_fixture("server", in_process=True)

CALLER = "p1"
NAMES = (None, "a", "a", "B", "b", "镜像")
SIZES = (None, 0, 5, 5, 100)
TIMES = (
    "2018-09-17T00:13:42Z",
    "2018-09-17T00:13:43Z",
    "2018-09-17T00:13:43Z",
    "2019-01-01T00:00:00Z",
)
SORT_KEYS = (
    "name",
    "status",
    "container_format",
    "disk_format",
    "size",
    "id",
    "created_at",
    "updated_at",
)
CHOICES: dict[str, tuple[Any, ...]] = {
    "status": ("active", "queued", "saving"),
    "container_format": ("bare", "ovf"),
    "disk_format": ("qcow2", "raw"),
    "created_at": TIMES,
    "updated_at": TIMES,
}
_PICK = {n: st.integers(0, n - 1) for n in range(1, 64)}
_DIRS = st.sampled_from(("asc", "desc"))
_KEYS = st.sampled_from(SORT_KEYS)
_OPS = st.sampled_from(("gt", "gte", "lt", "lte", "eq", "neq", None))
_MICROS = st.sampled_from((0, 500_000, -250_000, 1, -1, 999_999))
_OFFSETS = st.sampled_from((None, "Z", "+00:00", "+08:00", "-0530", "+01"))
_BOUNDS = st.sampled_from(("-1", "0", "5", "+5", " 6 ", "100", "101", "-99999999999999999999"))
_LIMIT = st.sampled_from((1, 2, 3, 5, None))


def _pick(draw: st.DrawFn, values: tuple[Any, ...] | list[Any]) -> Any:
    return values[draw(_PICK[len(values)])]


@st.composite
def catalogs(draw: st.DrawFn) -> list[dict[str, Any]]:
    docs = []
    for index in range(draw(st.integers(1, 12))):
        public = draw(st.booleans())
        doc: dict[str, Any] = {
            # unique ids whose order is unrelated to the creation order
            "id": f"{draw(_PICK[16]):x}{index:07x}-0000-4000-8000-000000000000",
            "owner": "platform" if public else CALLER,
            "visibility": "public" if public else "private",
            "__imagetype": "gold" if public else "private",
            "__isregistered": "true",
        }
        for name, values in CHOICES.items():
            doc[name] = _pick(draw, values)
        for name, values in (("name", NAMES), ("size", SIZES)):
            value = _pick(draw, values)
            if value is not None:
                doc[name] = value
        docs.append(doc)
    return docs


def _iso(draw: st.DrawFn, docs: list[dict[str, Any]], field: str) -> str:
    """A time near one the catalog has, written in one of the forms Glance reads."""
    at = datetime.strptime(_pick(draw, [d[field] for d in docs]), "%Y-%m-%dT%H:%M:%SZ")
    at = at.replace(tzinfo=UTC) + timedelta(microseconds=draw(_MICROS))
    zone = draw(_OFFSETS)
    shift = {None: 0, "Z": 0, "+00:00": 0, "+08:00": 480, "-0530": -330, "+01": 60}[zone]
    local = at + timedelta(minutes=shift)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if local.microsecond:
        text += draw(st.sampled_from(".,")) + f"{local.microsecond:06d}".rstrip("0")
    return text + (zone or "")


@st.composite
def queries(draw: st.DrawFn, docs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    syntax = draw(st.sampled_from(("none", "classic", "new")))
    if syntax == "classic":
        keys = draw(st.lists(_KEYS, max_size=3))
        params += [("sort_key", k) for k in keys]
        count = draw(st.sampled_from(sorted({0, 1, len(keys)})))  # Glance takes no other
        params += [("sort_dir", draw(_DIRS)) for _ in range(count)]
    elif syntax == "new":
        items = []
        for key in draw(st.lists(_KEYS, min_size=1, max_size=3)):
            direction = draw(st.one_of(st.none(), _DIRS))
            items.append(key if direction is None else f"{key}:{direction}")
        params.append(("sort", ",".join(items)))
    for field in ("created_at", "updated_at"):
        if draw(st.integers(0, 2)) == 0:
            op = draw(_OPS)
            when = _iso(draw, docs, field)
            params.append((field, when if op is None else f"{op}:{when}"))
    for name in ("size_min", "size_max"):
        if draw(st.integers(0, 3)) == 0:
            params.append((name, draw(_BOUNDS)))
    limit = draw(_LIMIT)
    if limit is not None:
        params.append(("limit", str(limit)))
    return params


# --- the reference -----------------------------------------------------------------------------


def _stored(doc: dict[str, Any], key: str) -> Any:
    """The value a sort or range compares: a missing name is "", a missing size 0."""
    value: Any = doc.get(key)
    if key in ("created_at", "updated_at"):
        return iso8601.parse_date(value)
    if value is None:
        return 0 if key == "size" else ""
    return value


def _time_matches(doc: dict[str, Any], field: str, value: str) -> bool:
    """Glance's split_filter_op, then `stored op threshold` on the parsed instants."""
    op, threshold = "eq", value
    left, sep, right = value.partition(":")
    if sep:
        try:
            iso8601.parse_date(value)
        except iso8601.ParseError:
            op, threshold = left, right
    when = iso8601.parse_date(threshold)
    have = _stored(doc, field)
    return bool(
        {
            "gt": have > when,
            "gte": have >= when,
            "lt": have < when,
            "lte": have <= when,
            "eq": have == when,
            "neq": have != when,
        }[op]
    )


def _order(params: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Glance's `_get_sorting_params` and the tie-breakers `image_get_all` appends."""
    sort = [v for k, v in params if k == "sort"]
    if sort:
        items = [item.partition(":") for item in sort[0].strip().split(",")]
        keys = [key.strip() for key, _, _ in items]
        dirs = [(direction or "desc").strip() for _, _, direction in items]
    else:
        keys = [v for k, v in params if k == "sort_key"] or ["created_at"]
        dirs = [v for k, v in params if k == "sort_dir"] or ["desc"]
    default = dirs[0] if len(dirs) == 1 else "desc"
    if len(dirs) == 1:
        dirs = dirs * len(keys)
    for tie in ("created_at", "id"):
        if tie not in keys:
            keys.append(tie)
            dirs.append(default)
    return list(zip(keys, dirs, strict=True))


def reference(docs: list[dict[str, Any]], params: list[tuple[str, str]]) -> list[str]:
    kept = []
    for doc in docs:
        ok = all(_time_matches(doc, k, v) for k, v in params if k in ("created_at", "updated_at"))
        for name, value in params:
            if name == "size_min":
                ok = ok and _stored(doc, "size") >= int(value)
            elif name == "size_max":
                ok = ok and _stored(doc, "size") <= int(value)
        if ok:
            kept.append(doc)
    order = _order(params)

    def compare(a: dict[str, Any], b: dict[str, Any]) -> int:
        for key, direction in order:
            x, y = _stored(a, key), _stored(b, key)
            if x != y:
                before = x < y if direction == "asc" else x > y
                return -1 if before else 1
        return 0

    return [d["id"] for d in sorted(kept, key=cmp_to_key(compare))]


# --- the property --------------------------------------------------------------------------------


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_the_glance_list_agrees_with_the_reference(server: Server, data: st.DataObject) -> None:
    client = server.clients[0] if server.clients else server.client(CALLER)
    docs = data.draw(catalogs(), label="catalog")
    empty(server.database_url)
    load(server.database_url, docs)
    for _ in range(5):
        params = data.draw(queries(docs), label="query")
        expected = reference(docs, params)
        limit = int(dict(params).get("limit", "25"))
        r = client.get("/v2/images", params=tuple(params))
        start = 0
        while True:  # follow `next`, present exactly when a page is full
            assert r.status_code == 200, (params, r.text)
            body = r.json()
            page = [i["id"] for i in body["images"]]
            assert page == expected[start : start + limit], (params, start)
            start += limit
            if len(page) < limit:
                assert "next" not in body
                break
            r = client.get(body["next"])
        assert start >= len(expected)
