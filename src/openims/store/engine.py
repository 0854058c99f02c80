"""Database URLs and engines. Operators write plain URLs (`sqlite:///./data/openims.db`,
`postgresql://user@host/db`); the async driver is chosen here.

SQLite is set up for durability and for several processes: WAL, `synchronous=FULL` (an
acknowledged commit survives a power cut, not only a crash), foreign keys on, and a busy
timeout so that writers queue instead of failing. pysqlite's own transaction handling is
switched off so that write transactions can start with `BEGIN IMMEDIATE` and take the write
lock before they read: that is what makes read-modify-write safe across processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from openims.config import check_database_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
IMMEDIATE = "openims_immediate"


def async_url(url: str) -> sa.URL:
    """The SQLAlchemy URL with an async driver for what the operator wrote: `sqlite:///PATH` or
    `postgresql://…` (`config.check_database_url`: anything else is a ValueError)."""
    parsed = sa.make_url(check_database_url(url))
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    return parsed.set(drivername="postgresql+asyncpg")


def redacted(url: str) -> str:
    """The URL with any password masked, for logs and messages."""
    if "://" not in url:  # not a URL (refused by check_database_url): shown as it is
        return url if "@" not in url else "<unparsable database URL>"
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except (ValueError, sa.exc.ArgumentError):
        return "<unparsable database URL>"


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


CONNECT_TIMEOUT_SECONDS = 5.0
# What bounds a statement by default: one that serves a request (`OPENIMS_DATABASE_TIMEOUT`
# sets the server's own).
REQUEST_TIMEOUT_SECONDS = 30.0
# What bounds a statement of maintenance over the whole catalog (a migration rewriting a table,
# a bulk write's COPY or index build): on a million images these take minutes, not seconds.
MAINTENANCE_TIMEOUT_SECONDS = 24 * 3600.0


def create_engine(url: str, *, pool_size: int = 10, timeout: float | None = None) -> AsyncEngine:
    """An engine for `url`. On PostgreSQL `timeout` (default REQUEST_TIMEOUT_SECONDS) bounds
    every statement (and connecting, at most CONNECT_TIMEOUT_SECONDS): a database that accepts
    connections but never answers costs a request that long, then a 503, never a hang."""
    timeout = REQUEST_TIMEOUT_SECONDS if timeout is None else timeout
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        database = target.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            target,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=30,
            hide_parameters=True,  # no value from a request in an error's text (logs.py)
        )
        _configure_sqlite(engine)
        return engine
    connect_args: dict[str, Any] = {
        # seconds to connect: an unreachable database fails fast (503)
        "timeout": min(CONNECT_TIMEOUT_SECONDS, timeout),
        "command_timeout": timeout,
        "server_settings": {
            "application_name": "openims",
            # Every list is a LIMIT over an index: starting parallel workers or JIT-compiling
            # costs more (milliseconds) than such a query takes.
            "max_parallel_workers_per_gather": "0",
            "jit": "off",
        },
    }
    return create_async_engine(
        target,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=10,
        # No ping per checkout (a round trip per request): a connection the server dropped
        # fails its next statement, is invalidated, and that request gets a 503.
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args=connect_args,
        hide_parameters=True,  # no value from a request in an error's text (logs.py)
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # reads: each statement is its own implicit transaction
        immediate = conn.get_execution_options().get(IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
