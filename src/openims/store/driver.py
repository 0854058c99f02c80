"""Reads on the hot path: a SQLAlchemy Core statement, compiled once per shape, run on the
driver connection (asyncpg or aiosqlite) that SQLAlchemy's pool hands out.

SQLAlchemy's execution layer (greenlet hops, cursor adaptation, result rows) costs about
300 µs per statement on PostgreSQL and 1 ms on SQLite, more than the query itself for a
single-image GET. Statements are still built with SQLAlchemy Core and compiled by its dialect,
and the values bound go through the types' bind processors as SQLAlchemy's would; only the
execution skips the adapter (and with it the result processors: a PostgreSQL `uuid` column
comes back as asyncpg's `UUID`, which `str` gives as SQLAlchemy would). A statement whose
compiled form needs expansion at run time (`IN` lists) goes through SQLAlchemy as usual.

Only reads outside a transaction take this path: SQLAlchemy's asyncpg adapter starts a
transaction lazily, on its own first statement, so a statement sent past it inside `begin()`
would run outside the transaction (and a `FOR UPDATE` lock would be released at once).

The pool must still learn about broken connections: a connection-level failure invalidates the
connection and every other the pool has opened so far, as SQLAlchemy's own execution does, and
is raised as SQLAlchemy's `OperationalError`, which the API answers with 503.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler

Row = Sequence[Any]
T = TypeVar("T")
_CACHE_SIZE = 500
Processors = tuple[Callable[[Any], Any] | None, ...]


def _processors(compiled: SQLCompiler) -> Processors:
    """The bind processor of each positional parameter of `compiled` (None where there is
    none): what SQLAlchemy's execution would apply to each value, such as `tables.ImageId`'s."""
    assert compiled.positiontup is not None
    found = compiled._bind_processors
    processors: list[Callable[[Any], Any] | None] = []
    for name in compiled.positiontup:
        processor = found.get(name)
        assert processor is None or callable(processor)  # a sequence only for a tuple value
        processors.append(processor)
    return tuple(processors)


def _args(processors: Processors, values: Sequence[Any]) -> list[Any]:
    return [v if p is None else p(v) for p, v in zip(processors, values, strict=True)]


class Prepared:
    """A statement of fixed shape whose values are all named bind parameters: compiled once,
    run with a dict of values, without building or hashing the statement again."""

    def __init__(self, dialect: sa.Dialect, stmt: sa.Select[Any]) -> None:
        compiled = dialect.statement_compiler(dialect, stmt)
        assert compiled.positiontup is not None and not compiled.post_compile_params
        self.stmt = stmt
        self.sql = compiled.string
        self.names = tuple(compiled.positiontup)
        self.processors = _processors(compiled)

    def args(self, values: dict[str, Any]) -> list[Any]:
        return _args(self.processors, [values[name] for name in self.names])


class Compiler:
    """Compiled statements of one dialect, keyed by their SQLAlchemy cache key."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self.dialect = dialect
        self.asyncpg = dialect.driver == "asyncpg"
        self._cache: dict[Any, tuple[SQLCompiler, Processors] | None] = {}

    def compile(self, stmt: sa.ClauseElement) -> tuple[str, list[Any]] | None:
        """The SQL text and positional arguments for `stmt`, or None when it must run through
        SQLAlchemy (expanding parameters)."""
        key = stmt._generate_cache_key()
        assert key is not None
        if key.key in self._cache:
            found = self._cache[key.key]
        else:
            made = self.dialect.statement_compiler(self.dialect, stmt, cache_key=key)
            usable = not made.post_compile_params and made.positiontup is not None
            found = (made, _processors(made)) if usable else None
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[key.key] = found
        if found is None:
            return None
        compiled, processors = found
        params = compiled.construct_params(extracted_parameters=key.bindparams)
        positions = compiled.positiontup
        assert positions is not None
        return compiled.string, _args(processors, [params[name] for name in positions])


def _connection_lost(exc: BaseException) -> bool:
    if isinstance(exc, OSError | asyncio.TimeoutError | ConnectionError):
        return True
    if isinstance(exc, sqlite3.Error):
        return False
    module = type(exc).__module__
    # asyncpg: server errors are PostgresError; InterfaceError and its kin mean the connection
    return module.startswith("asyncpg") and not _is_postgres_error(exc)


def _is_postgres_error(exc: BaseException) -> bool:
    return any(cls.__name__ == "PostgresError" for cls in type(exc).__mro__)


async def fetch(conn: AsyncConnection, compiler: Compiler, stmt: sa.Select[Any]) -> list[Row]:
    """All rows of `stmt`, as tuples (or asyncpg records) in column order."""
    compiled = compiler.compile(stmt)
    if compiled is None:
        return [tuple(r) for r in await conn.execute(stmt)]
    return await run(conn, compiler, *compiled)


async def fetch_prepared(
    conn: AsyncConnection, compiler: Compiler, prepared: Prepared, values: dict[str, Any]
) -> list[Row]:
    return await run(conn, compiler, prepared.sql, prepared.args(values))


async def call(conn: AsyncConnection, operation: Callable[[Any], Awaitable[T]]) -> T:
    """`operation` on the driver connection under `conn` (asyncpg's or aiosqlite's), for what
    SQLAlchemy has no form of (COPY, executemany of plain tuples). Inside a transaction, only
    after SQLAlchemy has started it (on asyncpg: after its first statement through `conn`). A
    lost connection is invalidated and raised as OperationalError, as in `run`."""
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    try:
        return await operation(raw)
    except Exception as exc:
        if _connection_lost(exc):
            await conn.invalidate(exc)
            raise sa.exc.OperationalError("bulk write", None, exc) from exc
        raise


async def run(conn: AsyncConnection, compiler: Compiler, sql: str, args: list[Any]) -> list[Row]:
    """Rows of compiled `sql` with positional `args`, on the driver connection under `conn`."""
    pooled = await conn.get_raw_connection()
    raw = pooled.driver_connection
    assert raw is not None
    try:
        if compiler.asyncpg:
            rows: list[Row] = await raw.fetch(sql, *args)
        else:
            rows = list(await raw.execute_fetchall(sql, args))
    except Exception as exc:
        if _connection_lost(exc):
            # As SQLAlchemy does with a disconnect it sees itself: every connection the pool
            # has opened so far is taken for lost (a database restart resets them all) and
            # replaced at its next checkout, so a reset costs one 503, not one per pooled
            # connection.
            conn.sync_engine.pool._invalidate(pooled, exc, _checkin=False)
            await conn.invalidate(exc)
            raise sa.exc.OperationalError(sql, None, exc) from exc
        raise
    return rows
