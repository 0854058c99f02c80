"""The bulk write (`store/bulk.py`: COPY on PostgreSQL, executemany on SQLite, indexes built
after the rows for a large import into an empty catalog) on both backends: it writes exactly the
rows the one-image write path writes, leaves the schema as it found it, stays all or nothing
when an id clashes, and is not cut short by the per-request statement timeout."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from openims import errors
from openims.domain.access import Caller
from openims.domain.documents import ImageItem
from openims.service import demo
from openims.store import bulk
from openims.store.engine import create_engine
from openims.store.images import ImageStore
from openims.store.tables import image_members, image_properties, image_tags, images
from tests.store.test_schema import _differences
from tests.support.databases import empty, sqlite_database

ADMIN = Caller("admin-project", frozenset({"admin"}))
# every column but the members' own timestamps, which are the time of the write
MEMBER_COLUMNS = [c for c in image_members.c if c.name not in ("created_at", "updated_at")]


def _catalog(n: int, seed: int = 11) -> list[ImageItem]:
    items = list(demo.catalog(n, seed))
    assert any(item.members for item in items) and any(item.doc["tags"] for item in items)
    return items


async def _rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in key order (documents as bytes)."""
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            out: dict[str, list[tuple[Any, ...]]] = {}
            for table, columns in (
                (images, list(images.c)),
                (image_properties, list(image_properties.c)),
                (image_tags, list(image_tags.c)),
                (image_members, MEMBER_COLUMNS),
            ):
                keys = [c for c in table.c if c.primary_key]
                found = await conn.execute(sa.select(*columns).order_by(*keys))
                out[table.name] = [
                    tuple(bytes(v) if isinstance(v, bytes | memoryview) else v for v in r)
                    for r in found
                ]
            return out
    finally:
        await engine.dispose()


async def _schema(url: str) -> list[tuple[str, ...]]:
    """The definitions of every index and constraint of the bulk tables."""
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                found = await conn.exec_driver_sql(
                    "SELECT type, name, tbl_name, sql FROM sqlite_master "
                    "WHERE name NOT LIKE 'sqlite_stat%' ORDER BY name"
                )
            else:
                found = await conn.exec_driver_sql(
                    "SELECT 'index', indexname, tablename, indexdef FROM pg_indexes "
                    "WHERE schemaname = current_schema() UNION ALL "
                    "SELECT 'constraint', conname, conrelid::regclass::text, "
                    "pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE connamespace = current_schema()::regnamespace ORDER BY 2, 1"
                )
            return [tuple(str(v) for v in r) for r in found]
    finally:
        await engine.dispose()


async def _one_by_one(url: str, items: list[ImageItem]) -> None:
    """The items written as the API writes images and members, one at a time."""
    engine = create_engine(url, pool_size=1)
    try:
        store = ImageStore(engine)
        for item in items:
            await store.create(item.doc)
            if item.members:
                async with store.image_for_update(item.doc["id"], ADMIN) as tx:
                    for member_id, status in item.members:
                        await tx.members.add(member_id, status)
    finally:
        await engine.dispose()


async def _import(url: str, items: list[ImageItem], **engine_options: Any) -> int:
    engine = create_engine(url, pool_size=1, **engine_options)
    try:
        store = ImageStore(engine)
        await store.count()  # connected before the import
        return await store.import_items(items)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("rebuild", [False, True], ids=["indexes-kept", "indexes-rebuilt"])
def test_the_bulk_write_stores_what_the_one_by_one_path_stores(
    db_url: str, rebuild: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows of every table, documents byte for byte, on each path of the bulk write; and the
    indexes and keys dropped for the rebuild are all back, as they were."""
    items = _catalog(700)
    asyncio.run(_one_by_one(db_url, items))
    expected = asyncio.run(_rows(db_url))
    schema = asyncio.run(_schema(db_url))
    empty(db_url)
    monkeypatch.setattr(bulk, "REBUILD_MIN", 1 if rebuild else 10**9)
    assert asyncio.run(_import(db_url, items)) == len(items)
    assert asyncio.run(_rows(db_url)) == expected
    assert asyncio.run(_schema(db_url)) == schema
    assert _differences(db_url) == []


@pytest.mark.parametrize("position", [0, 1234], ids=["first", "last"])
def test_an_id_already_there_is_named_and_nothing_is_written(db_url: str, position: int) -> None:
    """The primary key finds the clash wherever it is (here in the first or the last of three
    batches); the import rolls back to before its first row and names the id."""
    items = _catalog(1235)
    there = items[position]
    asyncio.run(_import(db_url, [there]))
    before = asyncio.run(_rows(db_url))
    with pytest.raises(errors.ApiError) as caught:
        asyncio.run(_import(db_url, items))
    assert caught.value.spec is errors.IMAGE_ID_EXISTS
    assert caught.value.params["image_id"] == there.doc["id"]
    assert asyncio.run(_rows(db_url)) == before


def test_the_first_clash_in_input_order_is_named(db_url: str) -> None:
    items = _catalog(1500)
    asyncio.run(_import(db_url, [items[1400], items[900]]))
    with pytest.raises(errors.ApiError) as caught:
        asyncio.run(_import(db_url, items))
    assert caught.value.params["image_id"] == items[900].doc["id"]


@pytest.mark.postgres
def test_a_bulk_write_outlasts_the_statement_timeout(pg_database: str) -> None:
    """Requests are bounded by the database timeout; copying and indexing a large import is
    not (here 0.1 s, far less than copying 20,000 images takes)."""
    empty(pg_database)
    items = _catalog(bulk.REBUILD_MIN)
    assert asyncio.run(_import(pg_database, items, timeout=0.1)) == len(items)


def _journal_mode(url: str) -> str:
    """The journal mode a new connection finds the SQLite file in (without setting one)."""
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as raw:
        return str(raw.execute("PRAGMA journal_mode").fetchone()[0])


def test_a_large_sqlite_import_goes_through_a_rollback_journal_and_back_to_the_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Into an empty catalog, alone on the file: the rows skip the WAL (switched), and the
    database is in WAL mode again afterwards. With another connection open on the file (a
    server), the switch is not possible: the import goes through the WAL, without waiting."""
    switches: list[bool] = []
    switch = bulk._to_rollback_journal

    async def recorded(raw: Any) -> bool:
        switches.append(await switch(raw))
        return switches[-1]

    monkeypatch.setattr(bulk, "_to_rollback_journal", recorded)
    monkeypatch.setattr(bulk, "REBUILD_MIN", 100)
    items = _catalog(300)

    (tmp_path / "alone").mkdir()
    (tmp_path / "shared").mkdir()
    alone = sqlite_database(tmp_path / "alone")
    assert asyncio.run(_import(alone, items)) == len(items)
    assert switches == [True] and _journal_mode(alone) == "wal"
    assert len(asyncio.run(_rows(alone))["images"]) == len(items)

    shared = sqlite_database(tmp_path / "shared")
    with closing(sqlite3.connect(shared.removeprefix("sqlite:///"))) as server:
        server.execute("SELECT count(*) FROM images").fetchone()
        started = time.monotonic()
        assert asyncio.run(_import(shared, items)) == len(items)
        assert time.monotonic() - started < 10  # not the 30 s busy timeout
    assert switches == [True, False] and _journal_mode(shared) == "wal"
    assert asyncio.run(_rows(shared)) == asyncio.run(_rows(alone))


def test_export_reads_every_image_once_oldest_first_across_batches(db_url: str) -> None:
    """Export's order (creation time, then id: the trailing keys of every images index) is
    the order an import of it writes the rows in; keyset batches neither skip nor repeat an
    image where several share one creation time."""
    items = _catalog(60)
    for n, item in enumerate(items):  # runs of three images created in the same second
        item.doc["created_at"] = item.doc["updated_at"] = f"2024-05-0{1 + n // 3 % 9}T10:00:00Z"

    async def exported() -> list[tuple[str, str]]:
        engine = create_engine(db_url, pool_size=1)
        try:
            store = ImageStore(engine)
            await store.import_items(items)
            return [
                (doc["created_at"], doc["id"])
                async for raw, _members in store.export(batch=7)
                for doc in [orjson.loads(raw)]
            ]
        finally:
            await engine.dispose()

    keys = asyncio.run(exported())
    assert keys == sorted((i.doc["created_at"], i.doc["id"]) for i in items)


@pytest.mark.parametrize("rebuild", [False, True], ids=["indexes-kept", "indexes-rebuilt"])
def test_an_id_the_rows_repeat_is_named_and_nothing_is_written(
    db_url: str, rebuild: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows that repeat an id (the CLI refuses them before writing; a caller of the store
    may not): IMAGE_ID_EXISTS names it, whether the key refused the row or, dropped for the
    rebuild (PostgreSQL), refused to be built again; nothing is written and the schema is
    whole."""
    items = _catalog(300)
    schema = asyncio.run(_schema(db_url))
    twice = items[200].doc["id"]
    items[250] = ImageItem({**items[250].doc, "id": twice})
    monkeypatch.setattr(bulk, "REBUILD_MIN", 1 if rebuild else 10**9)
    with pytest.raises(errors.ApiError) as refused:
        asyncio.run(_import(db_url, items))
    assert refused.value.params.get("image_id") == twice
    assert asyncio.run(_rows(db_url))["images"] == []
    assert asyncio.run(_schema(db_url)) == schema


def test_a_sqlite_bulk_write_gives_its_connection_back_with_its_own_cache_size(
    tmp_path: Path,
) -> None:
    """The larger page cache is for storing the rows (`SQLITE_WRITE_CACHE_MB`): the pooled
    connection that wrote them keeps the cache size it had, once the write succeeded and
    once it failed (an id already there)."""
    url = sqlite_database(tmp_path / "cache")
    items = _catalog(50)

    async def sizes() -> list[int]:
        engine = create_engine(url, pool_size=1)
        try:
            store = ImageStore(engine)

            async def cache_size() -> int:
                async with engine.connect() as conn:
                    found = await conn.exec_driver_sql("PRAGMA cache_size")
                    return int(found.scalar_one())

            seen = [await cache_size()]
            await store.import_items(items[:40])
            seen.append(await cache_size())
            with pytest.raises(errors.ApiError):
                await store.import_items(items[30:])
            seen.append(await cache_size())
            return seen
        finally:
            await engine.dispose()

    before, after_write, after_refusal = asyncio.run(sizes())
    assert before == after_write == after_refusal != -bulk.SQLITE_WRITE_CACHE_MB * 1024
