"""Query plans of the main list shapes, on SQLite and PostgreSQL: every shape can be served
by reading an index in the page's order and stopping at the page's end, so none scans the
images table and none sorts the matching set, and its cost does not grow with the catalog.

The statements are the ones the store really sends (`ImageStore.explain` builds them as
`query` does), explained with the values they are sent with, on a demo catalog with statistics
gathered. A catalog this small can rightly be read whole, so on PostgreSQL the planner is
asked for its best plan without sequential scans, bitmap scans or sorts: a plan it can still
make that way proves the indexes serve the shape. (The benchmark report shows the plans
PostgreSQL chooses by itself at 1M images.) SQLite's planner is checked as it chooses.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from openims.api.console import views
from openims.domain import query, registry
from openims.domain.access import Caller
from openims.service import demo
from openims.store import sqlite_plans
from openims.store.engine import create_engine
from openims.store.images import ImageStore
from tests.cli.test_transfer import export, openims
from tests.support.catalogs import load
from tests.support.databases import PG_URL, create_database, drop_database, execute

IMAGES = 6000
TENANT = Caller(demo.DEMO_PROJECT)

# (query string, an index the plan must use)
SHAPES = [
    ("limit=500", "ix_images_"),
    ("__os_type=Linux&status=active&limit=100", "ix_images_"),
    ("__imagetype=gold&visibility=public&protected=true", "ix_images_"),
    (f"owner={demo.DEMO_PROJECT}", "ix_images_"),
    (
        "member_status=accepted&visibility=shared&__imagetype=shared",
        "ix_image_members_member_id_status_image_created_at_image_id",
    ),
    (
        "member_status=pending&visibility=shared&__imagetype=shared",
        "ix_image_members_member_id_status_image_created_at_image_id",
    ),
    ("tag=env=prod&limit=100", "ix_images_"),
    ("sort_key=name&sort_dir=asc&limit=100", "ix_images_name_created_at_id"),
    ("created_at=gt:2018-09-20T00:00:00Z&created_at=lt:2018-10-20T00:00:00Z&limit=100", "ix_"),
]


# the console's list sorted by each column, in its tabs (`ListView`: the order is the column's)
CONSOLE_SORTS = [
    f"tab={tab}&sort={key}&dir={direction}"
    for tab in ("public", "private", "shared&member_status=accepted")
    for key in views.SORT_KEYS
    for direction in ("asc", "desc")
]


def _load_and_analyze(url: str) -> None:
    load(url, demo.catalog(IMAGES, seed=7))
    execute(url, "ANALYZE", autocommit=True)


def _console_query(text: str) -> query.ListQuery:
    view = views.ListView.from_query([tuple(p.split("=", 1)) for p in text.split("&")])  # type: ignore[misc]
    return replace(query.parse_ims(view.ims_params(TENANT), TENANT), sort=view.order())


async def _plans(url: str) -> dict[str, str]:
    engine = create_engine(url, pool_size=1)
    try:
        store = ImageStore(engine)
        plans: dict[str, str] = {}
        queries = []
        for text, _ in SHAPES:
            params = [tuple(p.split("=", 1)) for p in text.split("&")]
            queries.append((text, query.parse_ims(params, TENANT)))  # type: ignore[arg-type]
        queries += [(text, _console_query(text)) for text in CONSOLE_SORTS]
        for text, q in queries:
            assert await store.query(q, TENANT), f"{text}: the catalog should match something"
            plans[text] = await store.explain(
                q, TENANT, planner=("enable_seqscan", "enable_bitmapscan", "enable_sort")
            )
        return plans
    finally:
        await engine.dispose()


@pytest.fixture
def plans(db_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The plans as a large catalog gets them: on SQLite, a sorted page whose matches are
    few (`sqlite_plans.FEW`) sorts them, and every page here has more matches than none."""
    monkeypatch.setattr(sqlite_plans, "FEW", 0)
    _load_and_analyze(db_url)
    return asyncio.run(_plans(db_url))


def _console_index(text: str) -> str:
    """The index a console view is read off in order: its sort column's."""
    key = dict(p.split("=", 1) for p in text.split("&"))["sort"]
    if key == "created_at" and "shared" in text:
        return "ix_image_members_member_id_status_image_created_at_image_id"
    if key == "created_at":
        return "_created_at_id"
    return f"_{registry.BY_NAME[key].column}_created_at_id"


def test_every_main_shape_reads_an_index_in_order(plans: dict[str, str], backend: str) -> None:
    """The API's main list shapes, and the console's list sorted by any column in any tab
    (on PostgreSQL its own choice could also be the filter's index: that is one in order)."""
    shapes = [*SHAPES, *((text, _console_index(text)) for text in CONSOLE_SORTS)]
    for text, index in shapes:
        plan = plans[text]
        assert (index if backend == "sqlite" or text in dict(SHAPES) else "ix_") in plan, (
            f"{text}:\n{plan}"
        )
        if backend == "sqlite":
            scans = [line for line in plan.splitlines() if line.startswith("SCAN images")]
            assert all("USING" in line for line in scans), f"{text}: full scan\n{plan}"
            assert "TEMP B-TREE" not in plan, f"{text}: sorts the matching rows\n{plan}"
        else:
            assert "Seq Scan on images" not in plan, f"{text}: full scan\n{plan}"
            assert "Sort" not in plan, f"{text}: sorts the matching rows\n{plan}"
            assert plan.startswith("Limit"), f"{text}: not cut at the page's end\n{plan}"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sqlite_sorts_the_matches_when_they_are_few(db_url: str) -> None:
    """SQLite knows no value's frequency: left to itself it reads the whole name index to
    find a few public images. The store counts the matches first (up to FEW) and, when they
    are that few, has them read by the filter's index and sorted."""
    _load_and_analyze(db_url)

    async def go() -> dict[str, str]:
        engine = create_engine(db_url, pool_size=1)
        try:
            store = ImageStore(engine)
            found = {}
            for text in CONSOLE_SORTS:
                q = _console_query(text)
                assert len(await store.query(replace(q, limit=1000), TENANT)) <= sqlite_plans.FEW
                found[text] = await store.explain(q, TENANT)
            return found
        finally:
            await engine.dispose()

    for text, plan in asyncio.run(go()).items():
        assert "SCAN images" not in plan, f"{text}: reads more than the matches\n{plan}"
        if "sort=created_at" not in text:
            assert "TEMP B-TREE" in plan, f"{text}:\n{plan}"


@pytest.fixture
def new_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database no statistics were ever gathered in (the command migrates it)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'new.db'}"
        return
    assert PG_URL
    name = f"openims_plans_{uuid.uuid4().hex[:12]}"
    try:
        yield create_database(PG_URL, name)
    finally:
        drop_database(PG_URL, name)


async def _chosen_plan(url: str, text: str) -> str:
    """The plan the database chooses by itself (no planner setting changed) for a page."""
    engine = create_engine(url, pool_size=1)
    try:
        params = [tuple(p.split("=", 1)) for p in text.split("&")]
        q = query.parse_ims(params, TENANT)  # type: ignore[arg-type]
        return await ImageStore(engine).explain(q, TENANT)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("command", ["demo", "import"])
def test_a_filtered_page_reads_its_index_right_after_a_bulk_write(
    command: str,
    new_database: str,
    backend: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`openims demo` and `openims import` end with ANALYZE: without it the planner knows
    nothing of the new rows, and on PostgreSQL (autovacuum off, as on the test server) reads
    the filtered page by bitmap scan and sort of every match, 140-245 ms at 100k images,
    until someone runs ANALYZE. The page must come off an index in order at once."""
    if command == "demo":
        done = openims(
            "demo", "--no-data", "--images", str(IMAGES), "--seed", "7", "--database", new_database
        )
    else:
        source = f"sqlite:///{tmp_path / 'source.db'}"
        made = openims(
            "demo", "--no-data", "--images", str(IMAGES), "--seed", "7", "--database", source
        )
        assert made.returncode == 0, made.stderr
        done = openims("import", "-", "--database", new_database, stdin=export(source))
    assert done.returncode == 0, done.stderr
    if backend == "sqlite":  # every shape, with the statistics the import gathered
        monkeypatch.setattr(sqlite_plans, "FEW", 0)  # as a large catalog's matches are
        for text, index in SHAPES:
            plan = asyncio.run(_chosen_plan(new_database, text))
            assert index in plan, f"{text}:\n{plan}"
            assert "TEMP B-TREE" not in plan, f"{text}:\n{plan}"
        return
    plan = asyncio.run(_chosen_plan(new_database, "__os_type=Linux&status=active&limit=100"))
    assert plan.startswith("Limit") and "ix_images_" in plan, plan
    assert "Sort" not in plan and "Bitmap" not in plan and "Seq Scan" not in plan, plan
