"""Integrity of a database after a crash: the engine's own checks, then the agreement of every
image row with itself: its stored document, its filter columns and its side tables (custom
properties, tags) must say the same, and no side-table row may outlive its image.

SQLite: `PRAGMA integrity_check` and `PRAGMA foreign_key_check`. PostgreSQL: `amcheck`
(`verify_heapam` on every table, `bt_index_check` with `heapallindexed` on every index).
"""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from openims.domain import documents
from openims.store.engine import create_engine
from openims.store.images import row
from openims.store.tables import image_members, image_properties, image_tags, images, metadata


def problems(url: str) -> list[str]:
    """Everything wrong with the database at `url`; empty when it is sound."""
    return asyncio.run(_problems(url))


async def _problems(url: str) -> list[str]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                found = await _sqlite_checks(conn)
            else:
                found = await _postgres_checks(conn)
            found += await _rows_agree(conn)
            await conn.rollback()
            return found
    finally:
        await engine.dispose()


async def _sqlite_checks(conn: AsyncConnection) -> list[str]:
    found: list[str] = []
    result = [r[0] for r in (await conn.exec_driver_sql("PRAGMA integrity_check")).all()]
    if result != ["ok"]:
        found += [f"integrity_check: {r}" for r in result]
    orphans = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
    found += [f"foreign_key_check: {tuple(r)}" for r in orphans]
    return found


async def _postgres_checks(conn: AsyncConnection) -> list[str]:
    found: list[str] = []
    await conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS amcheck")
    for table in metadata.sorted_tables:
        damage = (
            await conn.execute(
                sa.text("SELECT blkno, offnum, msg FROM verify_heapam(CAST(:t AS regclass))"),
                {"t": table.name},
            )
        ).all()
        found += [f"verify_heapam {table.name}: {tuple(r)}" for r in damage]
    indexes = (
        await conn.execute(
            sa.text(
                "SELECT i.indexrelid::regclass::text FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indrelid "
                "JOIN pg_class ic ON ic.oid = i.indexrelid "
                "JOIN pg_am am ON am.oid = ic.relam "
                "WHERE c.relname = ANY(:tables) AND am.amname = 'btree'"
            ),
            {"tables": [t.name for t in metadata.sorted_tables]},
        )
    ).all()
    assert indexes, "no index found to check"
    for (index,) in indexes:
        try:
            await conn.execute(
                sa.text("SELECT bt_index_check(CAST(:i AS regclass), true)"), {"i": index}
            )
        except sa.exc.DBAPIError as exc:
            found.append(f"bt_index_check {index}: {exc.orig}")
    for side in (image_members, image_properties, image_tags):
        orphans = (
            await conn.execute(
                sa.select(side.c.image_id).where(~sa.exists().where(images.c.id == side.c.image_id))
            )
        ).all()
        found += [f"{side.name}: row of missing image {r[0]}" for r in orphans]
    return found


async def _rows_agree(conn: AsyncConnection) -> list[str]:
    found: list[str] = []
    props: dict[str, dict[str, str]] = {}
    for image_id, name, value in await conn.execute(sa.select(image_properties)):
        props.setdefault(image_id, {})[name] = value
    tags: dict[str, set[str]] = {}
    for image_id, tag in await conn.execute(sa.select(image_tags)):
        tags.setdefault(image_id, set()).add(tag)
    for stored in (await conn.execute(sa.select(images))).mappings():
        image_id = stored["id"]
        try:
            doc = documents.parse(bytes(stored["doc"]))
        except Exception as exc:
            found.append(f"{image_id}: unreadable document: {exc}")
            continue
        expected: dict[str, Any] = row(doc)
        for column, value in expected.items():
            if column != "doc" and stored[column] != value:
                found.append(f"{image_id}: column {column} = {stored[column]!r}, doc {value!r}")
        if props.get(image_id, {}) != documents.custom_properties(doc):
            found.append(f"{image_id}: properties table disagrees with the document")
        doc_tags = doc.get("tags") or []
        if len(set(doc_tags)) != len(doc_tags) or tags.get(image_id, set()) != set(doc_tags):
            found.append(f"{image_id}: tags table {tags.get(image_id)} vs document {doc_tags}")
    return found
