"""Alembic environment: runs migrations over the same async engine the server uses."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context

from openims.store import engine as engines
from openims.store.tables import metadata

MIGRATION_LOCK_ID = 0x0C0FFEE  # any constant shared by every OpenIMS process


def _sqlite_foreign_keys(connection: sa.Connection, *, on: bool) -> None:
    """Switch SQLite's foreign-key enforcement, which only changes outside a transaction: on
    the driver's connection, so that SQLAlchemy does not begin one first."""
    driver = connection.connection.dbapi_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        cursor.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")
    finally:
        cursor.close()


def _run(connection: sa.Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=sqlite,
        compare_type=True,
    )
    if sqlite:
        # A batch migration rebuilds a SQLite table (copy, drop, rename). With foreign keys
        # enforced, dropping `images` deletes every row that references it (ON DELETE
        # CASCADE): the tags, custom properties and members of every image. Alembic's advice:
        # enforcement off while migrating, and a check of every reference before the commit.
        _sqlite_foreign_keys(connection, on=False)
    try:
        with context.begin_transaction():
            if not sqlite:
                connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"))
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
                if broken is not None:
                    raise RuntimeError(f"a migration broke a reference: {tuple(broken)}")
    finally:
        if sqlite:
            _sqlite_foreign_keys(connection, on=True)


async def _main(url: str) -> None:
    # a migration may rewrite every row of a table, and wait for a running import's lock
    engine = engines.create_engine(url, pool_size=1, timeout=engines.MAINTENANCE_TIMEOUT_SECONDS)
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
