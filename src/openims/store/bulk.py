"""Bulk writes (`openims import`, `openims demo`): many images in one transaction, through each
database's bulk path, all of them or none.

The images are first turned into the rows of each table and spooled to temporary files (a
`Spool`; `openims import` fills it while it checks its input), then written from there:

- PostgreSQL: binary `COPY` (asyncpg's `copy_records_to_table`) on the driver connection,
  inside the transaction SQLAlchemy opened, one `COPY` per table. The rows stream from the
  spool as they are sent, so the server stores rows while the client reads the next ones.
- SQLite: `executemany` on the driver connection, inside the `BEGIN IMMEDIATE` transaction,
  a batch at a time; while SQLite stores one batch (in aiosqlite's thread), the next is read.

A large import into an empty catalog (a migration) drops the secondary indexes first (on
PostgreSQL also the primary and foreign keys of the images and side tables) and builds them
once at the end, in the same transaction: building an index from a million rows costs a
fraction of keeping it up to date row by row, in the random order of image ids. (On
PostgreSQL this holds the images table's exclusive lock until the import commits: a server
reading the same database waits.)

An id that an image of the database already has is found by the primary key: the rows are
written under a savepoint, and on a unique violation the import rolls back to it and looks up
which of its ids, the first in input order, was there before (IMAGE_ID_EXISTS); an id the
rows themselves repeat is named too (`openims import` refuses those before it writes), when
the key refuses the row or, when it was dropped for the rebuild, when it is built again.

Every bulk write ends with `ANALYZE` of the tables it touched, so the planner knows the new
rows at once (the catalog may be served from a database where autovacuum is off).

On SQLite, such an import also writes through a rollback journal instead of the WAL
(`sqlite_rollback_journal`) when its connection is the only one open on the database: the
pages of an empty catalog's new rows then go to the database file once, instead of to the WAL
and again, at the commit's checkpoint, to the file (3.6 GB twice for the 1M catalog), and the
index builds read the table from the file rather than through the WAL's index. New pages are
not journaled (a rollback truncates them), so the journal stays a few pages long; a crash
leaves a hot journal that the next connection rolls back before anything reads the database.
The WAL is set again once the import ended, whichever way it ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import marshal
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import IO, Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection

from openims import errors
from openims.domain import documents, registry, times
from openims.domain.documents import ImageItem
from openims.domain.registry import Kind
from openims.store import driver
from openims.store import engine as engines
from openims.store.tables import SORT_FILL, image_members, image_properties, image_tags, images

# An import of at least this many images into an empty catalog builds the secondary indexes
# after the rows (below it, keeping them up to date costs about the same).
REBUILD_MIN = 20_000
# Images per spooled batch: what progress is told at a time.
BATCH = 500
# Ids looked up per query when an import clashes with an image already in the database.
_LOOKUP = 1000
_SAVEPOINT = "openims_bulk"
# Seconds a statement of a bulk write may take on PostgreSQL, in place of the engine's
# per-statement timeout, which bounds requests: copying a million rows or building an index
# over them takes longer than any request should.
_PG_TIMEOUT = engines.MAINTENANCE_TIMEOUT_SECONDS
# maintenance_work_mem of a PostgreSQL bulk write that builds the indexes after the rows (for
# its transaction only). At the server's default (64 MB) sorting a million keys spills to
# disk and leaves room for one parallel worker at most; with 256 MB the sort stays in memory
# and two workers share the scan: an index of the 1M catalog in 3.4 s instead of 5.3 s.
PG_SORT_MEMORY_MB = 256
# SQLite's page cache while a bulk write stores its rows (the connection's own size is set
# again afterwards). The keys of images, tags and members take the rows in the random order
# of image ids that an export's order (creation time, then id) gives; with the default 2 MB
# those B-trees did not stay in memory, and storing the 1M catalog's rows took 37 s instead
# of 30. Pages are taken as they are used: a small import takes little.
SQLITE_WRITE_CACHE_MB = 256

Progress = Callable[[int], None]

TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (images.name, tuple(c.name for c in images.c)),
    (image_properties.name, ("image_id", "name", "value")),
    (image_tags.name, ("image_id", "tag")),
    (
        image_members.name,
        ("image_id", "member_id", "status", "created_at", "updated_at", "image_created_at"),
    ),
)
TABLE_NAMES = tuple(name for name, _ in TABLES)
assert all({c.name for c in images.metadata.tables[t].c} == set(cols) for t, cols in TABLES)

# The images row of a document: its stored attributes in column order, then the rendered
# document. Times are stored as epoch seconds, missing sort keys as their SORT_FILL.
_STORED = tuple(registry.stored())
_NAMES = tuple(a.name for a in _STORED)
_TIMES = tuple(n for n, a in enumerate(_STORED) if a.kind is Kind.DATETIME)
_FILLS = tuple((n, SORT_FILL[a.column]) for n, a in enumerate(_STORED) if a.column in SORT_FILL)
_ID = _NAMES.index("id")
assert (*(a.column for a in _STORED), "doc") == TABLES[0][1]


def rows(
    items: Iterable[ImageItem], stamp: int
) -> tuple[
    list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]
]:
    """The rows of `items` for each of TABLES: what `ImageStore._write_doc` and `MemberOps.add`
    write for each image and member, with `stamp` as the members' creation time."""
    image_rows: list[tuple[Any, ...]] = []
    properties: list[tuple[Any, ...]] = []
    tags: list[tuple[Any, ...]] = []
    members: list[tuple[Any, ...]] = []
    known = registry.BY_NAME
    parse = times.parse
    render = documents.render
    for item in items:
        doc = item.doc
        image_id = doc["id"]
        values: list[Any] = list(map(doc.get, _NAMES))
        for n in _TIMES:
            if values[n] is not None:
                values[n] = parse(values[n])
        for n, fill in _FILLS:
            if values[n] is None:
                values[n] = fill
        values.append(render(doc))
        image_rows.append(tuple(values))
        properties += [(image_id, k, v) for k, v in doc.items() if k not in known]
        tags += [(image_id, tag) for tag in doc.get("tags") or ()]
        if item.members:
            created_at = parse(doc["created_at"])
            members += [
                (image_id, member_id, status, stamp, stamp, created_at)
                for member_id, status in item.members
            ]
    return image_rows, properties, tags, members


class Encoded(NamedTuple):
    """The rows of a batch of images, each table's as one marshalled list: what a `Spool`
    stores of the batch, made where the images were checked (a worker process of
    `openims import`), so that the process filling the spool only writes bytes."""

    images: int
    data: tuple[bytes, ...]  # each table's rows, marshalled, in the order of TABLES
    sizes: tuple[int, ...]  # each table's rows


def encode(items: list[ImageItem], stamp: int) -> Encoded:
    """The rows of `items` (`rows`), marshalled for a spool whose stamp is `stamp`."""
    table_rows = rows(items, stamp)
    return Encoded(
        len(items), tuple(marshal.dumps(r) for r in table_rows), tuple(map(len, table_rows))
    )


class Spool:
    """Images turned into rows and kept in temporary files, one per table, in batches: what
    `write` stores. `add` takes them a batch at a time (`add_encoded`, a batch whose rows
    were made elsewhere, with `encode` and this spool's `stamp`); `count` is how many were
    added."""

    def __init__(self) -> None:
        self.files: list[IO[bytes]] = []
        self.count = 0
        self.stamp = times.now()
        try:
            for _ in TABLES:
                self.files.append(tempfile.TemporaryFile())  # noqa: SIM115 - closed by close()
        except BaseException:
            self.close()
            raise
        self.sizes = [0] * len(TABLES)  # rows of each table

    def add(self, items: list[ImageItem]) -> None:
        self.add_encoded(encode(items, self.stamp))

    def add_encoded(self, batch: Encoded) -> None:
        for n, (file, data, size) in enumerate(
            zip(self.files, batch.data, batch.sizes, strict=True)
        ):
            file.write(len(data).to_bytes(8, "little"))
            file.write(data)
            self.sizes[n] += size
        self.count += batch.images

    def fill(self, items: Iterable[ImageItem], progress: Progress | None = None) -> Spool:
        """Add every item, BATCH at a time; `progress` is told the images of each batch."""
        batch: list[ImageItem] = []
        for item in items:
            batch.append(item)
            if len(batch) >= BATCH:
                self.add(batch)
                if progress is not None:
                    progress(len(batch))
                batch = []
        if batch:
            self.add(batch)
            if progress is not None:
                progress(len(batch))
        return self

    def batches(self, table: int) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of TABLES[table], batch by batch (one batch per `add`, empty ones too)."""
        file = self.files[table]
        file.flush()
        file.seek(0)
        # each batch is its length, then its rows; read whole, as marshal.load would read a
        # file object in many small reads
        while size := file.read(8):
            data = file.read(int.from_bytes(size, "little"))
            found: list[tuple[Any, ...]] = marshal.loads(data)  # noqa: S302 - our own file
            yield found

    def ids(self) -> Iterator[str]:
        for batch in self.batches(0):
            for image_row in batch:
                yield image_row[_ID]

    def close(self) -> None:
        for file in self.files:
            file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class _Clash(Exception):
    """The primary key of images refused a row: an id is already in the database."""


def _unique_violation(exc: BaseException) -> bool:
    """asyncpg's UniqueViolationError, or sqlite3's IntegrityError for a UNIQUE constraint."""
    if getattr(exc, "sqlstate", None) == "23505":
        return True
    return type(exc).__name__ == "IntegrityError" and "UNIQUE constraint failed" in str(exc)


class _Database:
    """The statements of a bulk write on one backend, on the driver connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def execute(self, sql: str) -> None:
        raise NotImplementedError

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    async def empty(self) -> bool:
        return not await self.fetch("SELECT 1 FROM images LIMIT 1")

    async def lock(self) -> None:
        """Keep other writers out until the transaction ends (SQLite: they are already)."""

    async def deferrable(self) -> list[tuple[str, str]]:
        """(drop, create) statements of what TABLES can be written without and built after
        the rows, in the order to drop them: the indexes that enforce nothing (and, where the
        database allows, the side tables' keys)."""
        raise NotImplementedError

    async def existing(self, ids: list[str]) -> set[str]:
        raise NotImplementedError

    async def write(self, spool: Spool, told: Progress) -> None:
        """Write every row of `spool`, telling `told` the images of each batch as it goes;
        _Clash when the images' primary key refuses a row."""
        raise NotImplementedError

    async def analyze(self) -> None:
        raise NotImplementedError

    async def tune(self) -> None:
        """Settings for a write that builds the indexes after the rows, for its transaction.
        SQLite has none that help: a larger cache, memory-mapped reads or sorter threads
        built an index of the 1M catalog no faster (each build is a scan of the table). Its
        larger cache for the rows is set by its `write`, for any bulk write."""


class _Postgres(_Database):
    async def execute(self, sql: str) -> None:
        await driver.call(self.conn, lambda raw: raw.execute(sql, timeout=_PG_TIMEOUT))

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        found = await driver.call(self.conn, lambda raw: raw.fetch(sql, *args, timeout=_PG_TIMEOUT))
        return [tuple(r) for r in found]

    async def lock(self) -> None:
        await self.execute("LOCK TABLE images IN ACCESS EXCLUSIVE MODE")

    async def deferrable(self) -> list[tuple[str, str]]:
        # The keys too. Checking a foreign key costs a trigger per row, about twice what
        # storing the row does, while adding it afterwards is one join. The primary keys are
        # built once from every row instead of taking the rows one by one: the images' in
        # the random order of ids that an export's order (creation time, then id) gives,
        # which made the COPY 1-3 s slower for the 1M catalog than the key's build at the
        # end (0.5 s). Nothing can clash meanwhile: the catalog is empty and locked, and a
        # clash within the rows is named when the key is built (`write`). The foreign keys
        # that point at images (uploads in progress: none in an empty catalog) go first,
        # and come back after the key they point at (the statements are ordered by type:
        # foreign keys, then primary keys; built in the reverse order).
        keys = await self.fetch(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype IN ('f', 'p') "
            "AND (conrelid = ANY($1::regclass[]) OR confrelid = 'images'::regclass) "
            "ORDER BY contype, conname",
            list(TABLE_NAMES),
        )
        indexes = await self.fetch(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = ANY($1::regclass[]) AND NOT i.indisunique "
            "ORDER BY c.relname",
            list(TABLE_NAMES),
        )
        return [
            (
                f'ALTER TABLE {table} DROP CONSTRAINT "{name}"',
                f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}',
            )
            for table, name, definition in keys
        ] + [(f'DROP INDEX "{name}"', str(definition)) for name, definition in indexes]

    async def existing(self, ids: list[str]) -> set[str]:
        found = await self.fetch("SELECT id FROM images WHERE id = ANY($1::uuid[])", ids)
        return {str(r[0]) for r in found}

    async def write(self, spool: Spool, told: Progress) -> None:
        for n, (table, columns) in enumerate(TABLES):
            if not spool.sizes[n]:
                continue
            try:
                await self._copy(table, columns, self._streamed(spool, n, told))
            except Exception as exc:
                if n == 0 and _unique_violation(exc):
                    raise _Clash from exc
                raise

    @staticmethod
    def _streamed(spool: Spool, table: int, told: Progress) -> Iterator[tuple[Any, ...]]:
        for batch in spool.batches(table):
            yield from batch
            if table == 0:
                told(len(batch))

    async def _copy(
        self, table: str, columns: tuple[str, ...], records: Iterator[tuple[Any, ...]]
    ) -> None:
        async def copy(raw: Any) -> None:
            await raw.copy_records_to_table(
                table, records=records, columns=columns, timeout=_PG_TIMEOUT
            )

        await driver.call(self.conn, copy)

    async def analyze(self) -> None:
        await self.execute(f"ANALYZE {', '.join(TABLE_NAMES)}")

    async def tune(self) -> None:
        await self.execute(f"SET LOCAL maintenance_work_mem = '{PG_SORT_MEMORY_MB}MB'")


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608


def _raise_first(results: list[Any]) -> None:
    """The first error of a batch's statements (the images' first): _Clash for a row the
    images' primary key refused."""
    for n, result in enumerate(results):
        if isinstance(result, BaseException):
            if n == 0 and _unique_violation(result):
                raise _Clash from result
            raise result


class _Sqlite(_Database):
    _INSERTS = tuple(_insert_sql(table, columns) for table, columns in TABLES)

    async def execute(self, sql: str) -> None:
        await driver.call(self.conn, lambda raw: raw.execute(sql))

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        found = await driver.call(self.conn, lambda raw: raw.execute_fetchall(sql, args))
        return [tuple(r) for r in found]

    async def deferrable(self) -> list[tuple[str, str]]:
        # keys are part of a SQLite table's definition: only the indexes can go
        marks = ", ".join("?" * len(TABLE_NAMES))
        found = await self.fetch(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "  # noqa: S608
            f"AND tbl_name IN ({marks}) AND sql IS NOT NULL "
            "AND sql NOT LIKE 'CREATE UNIQUE%' ORDER BY name",
            *TABLE_NAMES,
        )
        return [(f'DROP INDEX "{name}"', str(definition)) for name, definition in found]

    async def existing(self, ids: list[str]) -> set[str]:
        marks = ", ".join("?" * len(ids))
        found = await self.fetch(f"SELECT id FROM images WHERE id IN ({marks})", *ids)  # noqa: S608
        return {str(r[0]) for r in found}

    async def write(self, spool: Spool, told: Progress) -> None:
        size = (await self.fetch("PRAGMA cache_size"))[0][0]
        await self.execute(f"PRAGMA cache_size = -{SQLITE_WRITE_CACHE_MB * 1024}")
        try:
            await self._write(spool, told)
        finally:
            await self.execute(f"PRAGMA cache_size = {int(size)}")

    async def _write(self, spool: Spool, told: Progress) -> None:
        async def write(raw: Any) -> None:
            storing: asyncio.Future[list[Any]] | None = None
            stored = 0  # images of the batch being stored
            try:
                tables = zip(*(spool.batches(n) for n in range(len(TABLES))), strict=True)
                for batch in tables:  # read while SQLite stores the previous batch
                    if storing is not None:
                        _raise_first(await storing)
                        told(stored)
                    storing = asyncio.gather(
                        *(
                            raw.executemany(sql, table_rows)
                            for sql, table_rows in zip(self._INSERTS, batch, strict=True)
                            if table_rows
                        ),
                        return_exceptions=True,
                    )
                    stored = len(batch[0])
                    await asyncio.sleep(0)  # each queues its statement, in order
                if storing is not None:
                    _raise_first(await storing)
                    told(stored)
            finally:
                if storing is not None and not storing.done():
                    await storing  # a statement in aiosqlite's thread runs to its end

        await driver.call(self.conn, write)

    async def analyze(self) -> None:
        # sampled, as `PRAGMA optimize` does: a full ANALYZE reads every index of a large
        # catalog, and the planner needs proportions, not exact counts
        await self.execute("PRAGMA analysis_limit = 1000")
        try:
            for table in TABLE_NAMES:
                await self.execute(f"ANALYZE {table}")
        finally:
            await self.execute("PRAGMA analysis_limit = 0")


async def write(
    conn: AsyncConnection, *, sqlite: bool, spool: Spool, progress: Progress | None = None
) -> int:
    """Insert the rows of `spool` on `conn`, which is in a write transaction: the caller
    commits, or rolls back on any error. The ids of the spool must be unique; an id that an
    image of the database already has is IMAGE_ID_EXISTS, naming the first such id."""
    db: _Database = _Sqlite(conn) if sqlite else _Postgres(conn)
    rebuild: list[tuple[str, str]] = []
    if large(spool) and await db.empty():
        await db.lock()
        if await db.empty():
            await db.tune()
            rebuild = await db.deferrable()
            for drop, _create in rebuild:
                await db.execute(drop)
    unreported = 0

    def told(images_written: int) -> None:
        nonlocal unreported
        if progress is not None and unreported:
            progress(unreported)
        unreported = images_written  # the last batch is told once the write is complete

    await db.execute(f"SAVEPOINT {_SAVEPOINT}")
    try:
        await db.write(spool, told)
    except _Clash:
        await db.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        raise errors.IMAGE_ID_EXISTS(image_id=await _first_clash(db, spool)) from None
    await db.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
    for _drop, create in reversed(rebuild):
        try:
            await db.execute(create)
        except Exception as exc:  # the images' key, built after rows that repeat an id
            if not _unique_violation(exc):
                raise
            raise errors.IMAGE_ID_EXISTS(image_id=_first_repeated(spool.ids())) from None
    await db.analyze()
    if progress is not None and unreported:
        progress(unreported)
    return spool.count


def large(spool: Spool) -> bool:
    """Whether `spool` is an import large enough to build the indexes after the rows (and, on
    SQLite, to skip the WAL) when it goes into an empty catalog."""
    return spool.count >= REBUILD_MIN


@contextlib.asynccontextmanager
async def sqlite_rollback_journal(conn: AsyncConnection) -> AsyncIterator[bool]:
    """Write a large import (`large`) on SQLite's `conn` (outside a transaction: the journal
    mode cannot change inside one) through a rollback journal when the catalog is empty and
    no other connection is on the database. Yields whether it switched; the WAL is set again
    on the way out."""
    switched = await _to_rollback_journal(_Sqlite(conn))
    try:
        yield switched
    finally:
        if switched:
            await asyncio.shield(driver.call(conn, _to_wal))


async def _to_rollback_journal(db: _Database) -> bool:
    if not await db.empty():
        return False
    # another connection (a server on the same file) keeps the WAL in use: the switch then
    # fails at once instead of after the busy timeout, and the import goes through the WAL
    busy = (await db.fetch("PRAGMA busy_timeout"))[0][0]
    await db.execute("PRAGMA busy_timeout = 0")
    try:
        mode = await db.fetch("PRAGMA journal_mode = DELETE")
    except Exception as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
        return False
    finally:
        await db.execute(f"PRAGMA busy_timeout = {int(busy)}")
    return bool(mode) and str(mode[0][0]).lower() == "delete"


async def _to_wal(raw: Any) -> None:
    await raw.execute("PRAGMA journal_mode = WAL")


async def _first_clash(db: _Database, spool: Spool) -> str:
    """The first id of `spool` that an image of the database has or, when none has, the
    first that the spool itself repeats (`openims import` refuses those before it writes;
    other callers make unique ids)."""
    ids = spool.ids()
    while chunk := [image_id for _, image_id in zip(range(_LOOKUP), ids, strict=False)]:
        found = await db.existing(chunk)
        for image_id in chunk:
            if image_id in found:
                return image_id
    return _first_repeated(spool.ids())


def _first_repeated(ids: Iterator[str]) -> str:
    seen: set[str] = set()
    for image_id in ids:
        if image_id in seen:
            return image_id
        seen.add(image_id)
    raise AssertionError("the primary key refused ids that are unique")
