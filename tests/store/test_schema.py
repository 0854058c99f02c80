"""The migrations build exactly the schema `store/tables.py` declares: a column, index or
table added to one and not the other fails here, on both backends."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from openims.store.engine import create_engine
from openims.store.tables import metadata


def _differences(url: str) -> list[Any]:
    def compare(connection: sa.Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async def go() -> list[Any]:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_migrations_build_the_declared_tables(db_url: str) -> None:
    assert _differences(db_url) == []
