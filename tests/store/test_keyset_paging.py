"""Keyset paging in the store, on SQLite and PostgreSQL: a deep page runs the same statement as
a shallow one and seeks the index from the marker (no OFFSET to skip over), and paging while
other writers insert never repeats or skips an image.
"""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any

import orjson
import pytest

from openims.domain import documents, query
from openims.domain.access import Caller
from openims.store import sqlite_plans
from openims.store.engine import create_engine
from openims.store.images import ImageStore
from tests.support.catalogs import image, load

ADMIN = Caller("admin-project", frozenset({"admin"}))
MEMBER = Caller("p1")


def _catalog(n: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    return [image(name=f"n{rng.randrange(40):02d}") for _ in range(n)]


async def _pages(
    store: ImageStore, caller: Caller, params: list[tuple[str, str]], limit: int
) -> list[list[str]]:
    pages: list[list[str]] = []
    marker: str | None = None
    while True:
        q = query.parse_ims(
            [*params, ("limit", str(limit)), *([("marker", marker)] if marker else [])], caller
        )
        page = [orjson.loads(d)["id"] for d in await store.query(q, caller)]
        pages.append(page)
        if len(page) < limit:
            return pages
        marker = page[-1]


def _list_statements(recorded: list[tuple[str, Any]]) -> list[tuple[str, tuple[Any, ...]]]:
    return [(s, tuple(p)) for s, p in recorded if "ORDER BY" in s]


async def _plan(engine: Any, statement: str, params: tuple[Any, ...]) -> str:
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            return "\n".join(str(r[-1]) for r in rows)
        # Only asks whether the keyset predicate *can* drive an index scan: on a table this
        # small the planner would rightly prefer reading it all.
        await conn.exec_driver_sql("SET enable_seqscan = off")
        rows = await conn.exec_driver_sql("EXPLAIN " + statement, params)
        return "\n".join(str(r[0]) for r in rows)


@pytest.mark.parametrize(
    ("sort", "keyset", "index"),
    [
        ([], ("created_at", "id"), "ix_images_created_at_id"),
        (
            [("sort_key", "name"), ("sort_dir", "asc")],
            ("name", "created_at", "id"),
            "ix_images_name_created_at_id",
        ),
    ],
)
def test_a_deep_page_is_the_same_indexed_statement_as_a_shallow_one(
    db_url: str,
    sort: list[tuple[str, str]],
    keyset: tuple[str, ...],
    index: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # on SQLite, as a large catalog's matches are: more than sqlite_plans.FEW, whose pages
    # are read off the sort index (fewer are sorted whole, whatever the page)
    monkeypatch.setattr(sqlite_plans, "FEW", 0)
    docs = _catalog(300)
    load(db_url, docs)

    async def go() -> str:
        engine = create_engine(db_url, pool_size=1)
        recorded: list[tuple[str, Any]] = []
        try:
            store = ImageStore(engine)
            compile_statement = store.compiler.compile

            def record(stmt: Any) -> Any:  # every statement the store runs, as sent
                compiled = compile_statement(stmt)
                assert compiled is not None
                recorded.append(compiled)
                return compiled

            store.compiler.compile = record  # type: ignore[method-assign]
            for caller in (MEMBER, ADMIN):
                recorded.clear()
                pages = await _pages(store, caller, sort, limit=10)
                assert sum(len(p) for p in pages) == len(docs)
                statements = _list_statements(recorded)
                assert len(statements) == 31
                shallow_sql, shallow = statements[1]  # page 2: the first one after a marker
                deep_sql, deep = statements[-1]  # page 31
                assert deep_sql == shallow_sql  # one statement, whatever the depth
                changed = [i for i, (a, b) in enumerate(zip(shallow, deep, strict=True)) if a != b]
                assert 0 < len(changed) <= len(keyset)  # only the marker's sort values differ
                if "OFFSET" in deep_sql:  # SQLAlchemy's SQLite dialect writes OFFSET 0
                    assert deep[-1] == 0
            # the admin's deep page (no visibility conditions) seeks the index from the marker
            return await _plan(engine, deep_sql, deep)
        finally:
            await engine.dispose()

    plan = asyncio.run(go())
    assert index in plan, plan
    if db_url.startswith("sqlite"):
        assert f"({','.join(keyset)})" in plan and "TEMP B-TREE" not in plan, plan
    else:
        # PostgreSQL writes varchar columns as `(name)::text` inside the row comparison
        assert re.search(rf"Index Cond: .*ROW\(\(?{keyset[0]}\b", plan), plan


def _sorted(rows: list[tuple[str, str, str]], desc: tuple[bool, ...]) -> list[tuple[str, ...]]:
    """`rows` in the order of their fields, each ascending or descending as `desc` says
    (stable sorts from the last field to the first)."""
    out: list[tuple[str, ...]] = list(rows)
    for i in reversed(range(len(desc))):
        out.sort(key=lambda row: row[i], reverse=desc[i])
    return out


# (face, sort parameters, direction of name, created_at and id): the IMS order, and a Glance
# order whose directions are mixed (with two directions given, the tie-breaker id is desc).
PAGING_ORDERS = [
    ("ims", [("sort_key", "name"), ("sort_dir", "asc")], (False, False, False)),
    ("glance", [("sort", "name:asc,created_at:desc")], (False, True, True)),
    ("glance", [("sort_key", "name"), ("sort_dir", "desc")], (True, True, True)),
    (
        "glance",
        [
            ("sort_key", "name"),
            ("sort_key", "created_at"),
            ("sort_dir", "desc"),
            ("sort_dir", "asc"),
        ],
        (True, False, True),
    ),
]


@pytest.mark.parametrize(("face", "sort", "desc"), PAGING_ORDERS)
def test_paging_while_others_insert_never_repeats_or_skips(
    db_url: str, face: str, sort: list[tuple[str, str]], desc: tuple[bool, ...]
) -> None:
    originals = _catalog(60)
    load(db_url, originals)
    parse = query.parse_ims if face == "ims" else query.parse_glance

    async def go() -> list[tuple[str, str, str]]:
        engine = create_engine(db_url, pool_size=4)
        store = ImageStore(engine)
        stop, wrote = asyncio.Event(), asyncio.Event()
        rng = random.Random(11)

        async def writer() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                doc = documents.canonical(image(name=f"n{rng.randrange(40):02d} new {n}"))
                await store.create(doc)
                wrote.set()
                await asyncio.sleep(0)

        task = asyncio.create_task(writer())
        try:
            seen: list[tuple[str, str, str]] = []
            marker: str | None = None
            while True:
                params = [*sort, ("limit", "4")]
                if marker:
                    params.append(("marker", marker))
                q = parse(params, MEMBER)
                page = [orjson.loads(d) for d in await store.query(q, MEMBER)]
                seen += [(d["name"], d["created_at"], d["id"]) for d in page]
                if len(page) < 4:
                    break
                marker = page[-1]["id"]
                # at least one insert lands between two pages (on SQLite a fast reader could
                # otherwise finish before the writer's first commit)
                wrote.clear()
                await wrote.wait()
        finally:
            stop.set()
            await task
            await engine.dispose()
        return seen

    seen = asyncio.run(go())
    assert len(seen) == len(set(seen)), "an image was served twice"
    assert seen == _sorted(seen, desc), "out of order"
    original_ids = {d["id"] for d in originals}
    assert sorted(i for _, _, i in seen if i in original_ids) == sorted(original_ids), (
        "an image that existed before paging began was skipped"
    )
    assert len(seen) > len(originals)  # the writer did get images in ahead of the reader
