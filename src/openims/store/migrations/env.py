"""Alembic environment: runs migrations over the same async engine the server uses."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context

from openims.store import engine as engines
from openims.store.tables import metadata

MIGRATION_LOCK_ID = 0x0C0FFEE  # any constant shared by every OpenIMS process


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"))
        context.run_migrations()


async def _main(url: str) -> None:
    engine = engines.create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            if engines.is_sqlite(engine):
                conn = await conn.execution_options(**{engines.IMMEDIATE: True})
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `openims db upgrade`")
asyncio.run(_main(context.config.attributes["database_url"]))
