"""Migrations run against databases that earlier revisions wrote, on SQLite and PostgreSQL:
an upgrade keeps every image, tag, custom property and member, and leaves each image's row
in agreement with its stored document."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from openims.domain import documents
from openims.store import migrate
from openims.store.engine import create_engine
from openims.store.images import row
from tests.catalogs import image, private, shared
from tests.conftest import PG_URL, _execute_autocommit
from tests.reliability.consistency import problems


@pytest.fixture
def fresh_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database with no schema at all, of the backend under test."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    assert PG_URL, "OPENIMS_TEST_PG_URL is not set"
    name = f"openims_migration_{uuid.uuid4().hex[:12]}"
    admin = sa.make_url(PG_URL)
    asyncio.run(_execute_autocommit(admin, f'CREATE DATABASE "{name}"'))
    yield admin.set(database=name).render_as_string(hide_password=False)
    asyncio.run(_execute_autocommit(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def write_rows(url: str, docs: list[dict[str, Any]], custom: Any = None) -> None:
    """Rows for `docs` (stored documents; `members` taken out) in the tables as the database
    has them now, whatever its revision: columns it lacks are left out. `custom(doc)` gives
    the custom properties (default: what the current registry calls custom)."""
    custom = custom or documents.custom_properties

    async def go() -> None:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(write)
        finally:
            await engine.dispose()

    def write(sync: sa.Connection) -> None:
        meta = sa.MetaData()
        tables = {
            name: sa.Table(name, meta, autoload_with=sync)
            for name in ("images", "image_properties", "image_tags", "image_members")
        }

        def insert(table: str, values: list[dict[str, Any]]) -> None:
            columns = tables[table].c
            if values:
                sync.execute(
                    tables[table].insert(),
                    [{k: v for k, v in v.items() if k in columns} for v in values],
                )

        for doc in docs:
            members = doc.pop("members", [])
            values = row(doc)
            values["doc"] = orjson.dumps(doc)
            insert("images", [values])
            props = custom(doc).items()
            insert(
                "image_properties",
                [{"image_id": doc["id"], "name": k, "value": v} for k, v in props],
            )
            insert("image_tags", [{"image_id": doc["id"], "tag": t} for t in doc["tags"]])
            stamp = values["created_at"]
            insert(
                "image_members",
                [
                    {
                        "image_id": doc["id"],
                        "member_id": m["member_id"],
                        "status": m["status"],
                        "created_at": stamp,
                        "updated_at": stamp,
                        "image_created_at": stamp,
                    }
                    for m in members
                ],
            )

    asyncio.run(go())


def count(url: str, table: str) -> int:
    async def go() -> int:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                result = await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))  # noqa: S608
                return int(result.scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(go())


def stored(doc: dict[str, Any]) -> dict[str, Any]:
    members = doc.pop("members", [])
    return {**documents.canonical(doc, stored=True), "members": members}


def test_upgrades_from_the_first_revision_keep_tags_properties_and_members(
    fresh_url: str,
) -> None:
    """SQLite migrations rebuild the images table (copy, drop, rename); with foreign keys
    enforced the drop would cascade to every tag, property and member row."""
    migrate.upgrade(fresh_url, "0001")
    docs = [
        stored(image(name="public", team="blue", tags=["a", "k=v"])),
        stored(private("p1", name="private", squad="red", tags=["b"])),
        stored(shared("p1", {"p2": "accepted", "p3": "pending"}, name="shared", tags=["c"])),
    ]
    write_rows(fresh_url, docs)
    before = {t: count(fresh_url, t) for t in ("image_properties", "image_tags", "image_members")}
    assert before == {"image_properties": 2, "image_tags": 4, "image_members": 2}

    migrate.upgrade(fresh_url)

    after = {t: count(fresh_url, t) for t in before}
    assert after == before
    assert problems(fresh_url) == []
