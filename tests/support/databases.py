"""The databases tests run on: every storage and API test runs on SQLite and on PostgreSQL.

PostgreSQL is the server named by OPENIMS_TEST_PG_URL; each test session (each xdist worker)
makes a database of its own there, so sessions never share rows."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from openims.store import migrate
from openims.store.engine import create_engine
from openims.store.tables import metadata

PG_URL = os.environ.get("OPENIMS_TEST_PG_URL")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def _execute(url: str, *statements: str, autocommit: bool = False) -> object:
    """Run `statements` in one transaction (or each on its own with `autocommit`, as CREATE
    DATABASE and VACUUM need); the first column of the last row of the last one, if any."""
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            if autocommit:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            found: object = None
            for statement in statements:
                result = await conn.execute(sa.text(statement))
                found = result.scalar() if result.returns_rows else None
            if not autocommit:
                await conn.commit()
            return found
    finally:
        await engine.dispose()


def execute(url: str, *statements: str, autocommit: bool = False) -> object:
    return run(_execute(url, *statements, autocommit=autocommit))


def empty(url: str) -> None:
    """Delete every row, keeping the schema."""
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    if url.startswith("postgresql"):
        execute(url, f"TRUNCATE {', '.join(tables)} CASCADE")
    else:
        execute(url, *(f"DELETE FROM {t}" for t in tables))  # noqa: S608 - table names


def database_url(admin_url: str, name: str) -> str:
    """The URL of database `name` on the PostgreSQL server of `admin_url`."""
    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def create_database(admin_url: str, name: str) -> str:
    execute(admin_url, f'CREATE DATABASE "{name}"', autocommit=True)
    return database_url(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', autocommit=True)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A migrated PostgreSQL database of its own, dropped afterwards."""
    assert PG_URL, "OPENIMS_TEST_PG_URL is not set"
    name = f"openims_test_{uuid.uuid4().hex[:12]}"
    url = create_database(PG_URL, name)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        drop_database(PG_URL, name)


def sqlite_database(directory: Path) -> str:
    """A migrated SQLite database in `directory`."""
    url = f"sqlite:///{directory / 'openims.db'}"
    migrate.upgrade(url)
    return url
