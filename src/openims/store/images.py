"""The image store: the only place that speaks SQL.

Reads return stored document bytes, untouched, so a list costs one indexed query and a join
of byte strings. Writes to an image go through `image_for_update`: the row is locked
(PostgreSQL `FOR UPDATE`, SQLite `BEGIN IMMEDIATE`) and handed out as an `ImageTx`; the service
decides on the current document and calls `tx.save` (columns, side tables and document are
rewritten in the same transaction) or `tx.delete`. Concurrent writers to one image therefore
queue instead of overwriting each other.

Whether the caller may see an image is decided here, once, for every read by id and every
write (`_require_visible`): an image the caller may not see is the 404 of a missing one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from openims import errors
from openims.domain import access, documents, registry, times
from openims.domain.access import MEMBER_STATUSES, Caller, ImageAccess
from openims.domain.documents import Document, ImageItem
from openims.domain.query import Clause, ListQuery
from openims.domain.quotas import Limits
from openims.domain.registry import Kind
from openims.domain.sharing import Member
from openims.store import bulk, driver, sqlite_plans
from openims.store import engine as engines
from openims.store import quotas as quota_sql
from openims.store.tables import (
    SORT_FILL,
    image_members,
    image_properties,
    image_tags,
    image_uploads,
    images,
)

_C = images.c
_M = image_members.c
_U = image_uploads.c


@dataclass(frozen=True, slots=True)
class Upload:
    """An upload or staging in progress (`tables.image_uploads`)."""

    image_id: str
    token: str
    space: str
    status_before: str
    heartbeat_at: float


@dataclass(frozen=True, slots=True)
class Loaded:
    """One image as read for a decision: its document and the caller's relation to it."""

    doc_bytes: bytes
    access: ImageAccess

    @property
    def doc(self) -> Document:
        return documents.parse(self.doc_bytes)


_INSERT = images.insert()
_UPDATE = images.update().where(_C.id == sa.bindparam("_id"))
_DELETE_PROPERTIES = image_properties.delete().where(
    image_properties.c.image_id == sa.bindparam("_id")
)
_DELETE_TAGS = image_tags.delete().where(image_tags.c.image_id == sa.bindparam("_id"))


def _storable(key: str) -> bool:
    """False for a key no row can hold (PostgreSQL text cannot hold NUL): it matches nothing,
    on every backend alike, without asking the database."""
    return "\x00" not in key


def row(doc: Document) -> dict[str, Any]:
    """The images-table row for a canonical document."""
    out: dict[str, Any] = {}
    for attr in registry.stored():
        assert attr.column is not None
        value = doc.get(attr.name)
        if value is not None and attr.kind is Kind.DATETIME:
            value = times.parse(value)
        if value is None and attr.column in SORT_FILL:
            value = SORT_FILL[attr.column]
        out[attr.column] = value
    out["doc"] = documents.render(doc)
    return out


def _member_status(project_id: str | sa.BindParameter[str]) -> sa.ScalarSelect[Any]:
    """The project's member status on the image of the outer row (NULL if not a member).

    A correlated scalar subquery rather than EXISTS: inside an OR, PostgreSQL would turn an
    EXISTS into a hash of every membership the project has, a cost that grows with the catalog;
    this form is one primary-key probe per shared row the page actually reads."""
    return (
        sa.select(_M.status)
        .where(_M.image_id == _C.id, _M.member_id == project_id)
        .scalar_subquery()
    )


def _member_is(project_id: str, status: str) -> sa.ColumnElement[bool]:
    if status == "all":
        return _member_status(project_id).is_not(None)
    return _member_status(project_id) == status


def visible_to(
    caller: Caller, q: ListQuery, *, members_joined: bool = False
) -> sa.ColumnElement[bool]:
    """The SQL form of `domain.access.listed`: what the caller's list shows, narrowed by the
    query's visibility and member_status the way Glance and IMS lists read them.
    `members_joined` says the caller's member rows of the wanted status are already joined
    (see `_by_membership`)."""
    p = caller.project_id
    vis, ms = q.visibility, q.member_status
    own = _C.owner == p
    shared = _C.visibility == "shared"
    cond: sa.ColumnElement[bool]
    if q.membership_only and vis == "shared" and ms is not None:
        cond = shared if members_joined else sa.and_(shared, _member_is(p, ms))
    elif caller.is_admin:  # every image; Glance's admin list ignores member_status
        if vis is None:
            cond = sa.or_(_C.visibility != "community", own)
        elif vis == "all":
            cond = sa.true()
        else:
            cond = _C.visibility == vis
    else:
        member = sa.and_(shared, _member_is(p, ms or "accepted"))
        if vis is None:
            cond = sa.or_(own, _C.visibility == "public", member)
        elif vis == "all":
            cond = sa.or_(own, _C.visibility.in_(("public", "community")), member)
        elif vis in ("public", "community"):
            cond = _C.visibility == vis
        elif vis == "shared":  # Glance: the caller's own shared images too
            cond = sa.or_(sa.and_(shared, own), member)
        else:
            cond = sa.and_(_C.visibility == vis, own)
    if not caller.is_admin:
        cond = sa.and_(cond, sa.or_(own, _C.isregistered == "true"))
    return cond


class _DocHolds(sa.sql.expression.FunctionElement[bool]):
    """True when the stored document's bytes hold `pattern` (bytes): SQLite's `instr` and
    PostgreSQL's `position` both compare bytes (SQLite's LIKE never matches a blob here)."""

    type = sa.Boolean()
    inherit_cache = True

    def __init__(self, doc: sa.ColumnElement[bytes], pattern: bytes) -> None:
        super().__init__(doc, sa.literal(pattern, sa.LargeBinary()))


@compiles(_DocHolds)
def _doc_holds_sqlite(element: _DocHolds, compiler: SQLCompiler, **kw: Any) -> str:
    doc, pattern = (compiler.process(c, **kw) for c in element.clauses)
    return f"instr({doc}, {pattern}) > 0"


@compiles(_DocHolds, "postgresql")
def _doc_holds_postgres(element: _DocHolds, compiler: SQLCompiler, **kw: Any) -> str:
    doc, pattern = (compiler.process(c, **kw) for c in element.clauses)
    return f"position({pattern} in {doc}) > 0"


_NO_FILL = object()


def _equals(attr: registry.Attribute, value: Any) -> sa.ColumnElement[bool]:
    """The attribute equals `value`, exactly: a sort column holds its SORT_FILL for an image
    without the attribute too, so for that value the document tells the two apart (its
    canonical bytes hold `"name":value` once when the attribute has it)."""
    assert attr.column is not None
    equal: sa.ColumnElement[bool] = _C[attr.column] == value
    if SORT_FILL.get(attr.column, _NO_FILL) == value:
        return sa.and_(equal, _DocHolds(_C.doc, documents.render({attr.name: value})[1:-1]))
    return equal


def _clause(clause: Clause) -> sa.ColumnElement[bool]:
    attr = registry.get(clause.attr)
    if attr is None:
        if clause.op != "eq":
            raise ValueError(f"custom property filters are exact, not {clause.op}")
        return sa.exists().where(
            image_properties.c.image_id == _C.id,
            image_properties.c.name == clause.attr,
            image_properties.c.value == clause.value,
        )
    assert attr.column is not None
    col = _C[attr.column]
    value = clause.value
    op = clause.op
    if op == "eq":
        if value is False and attr.nullable:
            return sa.or_(col.is_(False), col.is_(None))
        return _equals(attr, value)
    if op == "neq":
        return sa.or_(col.is_(None), sa.not_(_equals(attr, value)))
    if op == "eq_or_null":
        return sa.or_(col == value, col.is_(None))
    if op == "in":
        fill = SORT_FILL.get(attr.column, _NO_FILL)
        if fill in value:
            others = tuple(v for v in value if v != fill)
            return sa.or_(col.in_(others), _equals(attr, fill)) if others else _equals(attr, fill)
        return col.in_(value)
    comparisons: dict[str, sa.ColumnElement[bool]] = {
        "gt": col > value,
        "gte": col >= value,
        "lt": col < value,
        "lte": col <= value,
    }
    return comparisons[op]


def _sort_columns(q: ListQuery) -> list[sa.ColumnElement[Any]]:
    return [_C[registry.BY_NAME[name].column or ""] for name, _ in q.sort]


def _by_membership(q: ListQuery) -> bool:
    """True for "images shared with me in status S" (the IMS queries for shared images): the
    caller's member rows of that status are joined, not looked up row by row, so the planner
    knows how many there are and picks its way (an index in the sort's order, or the member
    rows sorted). Not for the Glance list of that shape, which also has the caller's own
    shared images (`access.listed`)."""
    return q.membership_only and q.visibility == "shared" and q.member_status in MEMBER_STATUSES


def _by_member_index(q: ListQuery) -> bool:
    """True for "images shared with me in status S, by creation time" (the IMS common query
    for shared images): the page is read off the member index (member_id, status,
    image_created_at, image_id) in order, so it costs the same however many images are
    shared with the caller."""
    return (
        _by_membership(q)
        and [name for name, _ in q.sort] == ["created_at", "id"]
        and q.sort[0][1] == q.sort[1][1]
    )


def _source(q: ListQuery, caller: Caller, image_id: sa.ColumnElement[Any]) -> sa.FromClause:
    """The images, joined to the caller's member rows of the wanted status for the shared
    images' list (`_by_membership`), on `image_id`, the images' id as the join reads it."""
    if not _by_membership(q):
        return images
    return images.join(
        image_members,
        sa.and_(
            _M.image_id == image_id,
            _M.member_id == caller.project_id,
            _M.status == q.member_status,
        ),
    )


def _order(q: ListQuery, keys: Sequence[sa.ColumnElement[Any]]) -> list[Any]:
    return [k.desc() if desc else k.asc() for k, (_, desc) in zip(keys, q.sort, strict=True)]


def _row_value(keys: Sequence[sa.ColumnElement[Any]], values: Sequence[Any]) -> sa.Tuple:
    """`values` as a row value to compare with `keys`, each bound with its key's type (an
    image id as `uuid` on PostgreSQL: a row value's members take no type from the other
    side of the comparison)."""
    return sa.tuple_(*(sa.literal(v, k.type) for k, v in zip(keys, values, strict=True)))


def _after(
    q: ListQuery, keys: Sequence[sa.ColumnElement[Any]], values: Sequence[Any]
) -> sa.ColumnElement[bool]:
    """Rows strictly after the marker in the query's order (keyset paging)."""
    directions = {desc for _, desc in q.sort}
    if len(directions) == 1:
        left, right = sa.tuple_(*keys), _row_value(keys, values)
        return left < right if q.sort[0][1] else left > right
    # mixed directions: (a after x) or (a = x and (b after y or (b = y and ...)))
    cond: sa.ColumnElement[bool] | None = None
    for (_, desc), col, val in reversed(list(zip(q.sort, keys, values, strict=True))):
        step = col < val if desc else col > val
        cond = step if cond is None else sa.or_(step, sa.and_(col == val, cond))
    assert cond is not None
    return cond


# A write transaction of the image store that the other stores' writes may join (a job
# recorded with the image it fills: `ImageStore.creating`, `JobStore.insert(within=…)`).
Transaction = AsyncConnection


class ImageStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sqlite = engines.is_sqlite(engine)
        # the default limits of every project (`Services` sets them from the settings): None
        # checks no quota (the store's own tests, the bulk import and the demo, which the
        # operator runs)
        self.quota_defaults: Limits | None = None
        self.compiler = driver.Compiler(engine.dialect)
        self._sqlite_writer = asyncio.Lock()
        load = sa.select(
            _C.doc,
            _C.owner,
            _C.visibility,
            _C.isregistered,
            _member_status(sa.bindparam("project_id")),
        ).where(_C.id == sa.bindparam("image_id"))
        self._load = driver.Prepared(engine.dialect, load)
        locked = load if self.sqlite else load.with_for_update(of=images)  # SQLite: BEGIN IMMEDIATE
        self._load_locked = driver.Prepared(engine.dialect, locked)

    # --- transactions ---------------------------------------------------------------------
    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        if not self.sqlite:
            async with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        # SQLite has one writer at a time. Writers of this process queue here, in order and
        # without cost, instead of inside SQLite's busy handler, whose sleeps grow to 100 ms
        # (a PATCH p99 of ~1 s under 8 concurrent writers); other processes still queue there.
        async with self._sqlite_writer, self.engine.connect() as conn:
            conn = await conn.execution_options(**{engines.IMMEDIATE: True})
            async with conn.begin():
                yield conn

    def writing(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A write transaction for the other stores over this database (`store.jobs`,
        `store.quotas`): on SQLite it queues with this store's writers."""
        return self._write()

    def reading(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """An autocommit connection for one read of the other stores over this database."""
        return self._read()

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        """A connection in autocommit mode: a read is one statement and one round trip, with
        no BEGIN/ROLLBACK around it."""
        async with self.engine.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    # --- reads ----------------------------------------------------------------------------
    async def ping(self) -> None:
        async with self._read() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def load(
        self,
        image_id: str,
        caller: Caller,
        *,
        conn: AsyncConnection | None = None,
        lock: bool = False,
    ) -> Loaded | None:
        """The image and the caller's relation to it, or None if there is no such image."""
        if not _storable(image_id):
            return None
        prepared = self._load_locked if lock else self._load
        values = {"image_id": image_id, "project_id": caller.project_id}
        if conn is None:
            async with self._read() as c:
                rows = await driver.fetch_prepared(c, self.compiler, prepared, values)
        else:  # inside a write transaction: through SQLAlchemy, which owns the transaction
            rows = list(await conn.execute(prepared.stmt, values))
        if not rows:
            return None
        result = rows[0]
        return Loaded(
            bytes(result[0]), ImageAccess(result[1], result[2], result[3] == "true", result[4])
        )

    async def image(self, image_id: str, caller: Caller) -> Loaded:
        """The image, if the caller may see it; else the 404 of a missing image."""
        return _require_visible(await self.load(image_id, caller), image_id, caller)

    async def query(
        self, q: ListQuery, caller: Caller, extra_clauses: Sequence[Clause] = ()
    ) -> list[bytes]:
        """Document bytes of one page of images the caller may see, in the query's order."""
        if q.limit == 0:
            return []
        async with self._read() as conn:
            stmt = await self._page(conn, q, caller, extra_clauses)
            return [r[0] for r in await driver.fetch(conn, self.compiler, stmt)]

    async def explain(
        self, q: ListQuery, caller: Caller, *, analyze: bool = False, planner: Sequence[str] = ()
    ) -> str:
        """The database's plan for the statement `query` sends for this page, with the values
        it sends. `planner` names PostgreSQL planner settings to turn off for this plan
        (`enable_seqscan`, ...); `analyze` runs the statement (PostgreSQL) to show real
        timings. For the plan tests and the benchmark report."""
        async with self._read() as conn:
            stmt = await self._page(conn, q, caller)
            compiled = self.compiler.compile(stmt)
            if compiled is None:  # expanding IN lists: SQLAlchemy renders them, values inline
                literal = stmt.compile(
                    dialect=self.engine.dialect, compile_kwargs={"literal_binds": True}
                )
                compiled = (str(literal), [])
            sql, args = compiled
            if self.sqlite:
                rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, tuple(args))
                return "\n".join(str(r[-1]) for r in rows)
            for setting in planner:
                await conn.exec_driver_sql(f"SET {setting} = off")
            try:
                how = "(ANALYZE, BUFFERS, COSTS OFF) " if analyze else ""
                rows = await conn.exec_driver_sql(f"EXPLAIN {how}{sql}", tuple(args))
                return "\n".join(str(r[0]) for r in rows)
            finally:
                for setting in planner:  # the connection goes back to the pool
                    await conn.exec_driver_sql(f"RESET {setting}")

    async def _page(
        self,
        conn: AsyncConnection,
        q: ListQuery,
        caller: Caller,
        extra_clauses: Sequence[Clause] = (),
    ) -> sa.Select[Any]:
        """The statement for one page; `conn` reads the marker's sort values when there is one."""
        joined = _by_membership(q)
        filtered = bool(q.clauses or extra_clauses or q.tags)
        conds: list[sa.ColumnElement[bool]] = [visible_to(caller, q, members_joined=joined)]
        conds += [_clause(c) for c in (*q.clauses, *extra_clauses)]
        for alternatives in q.tags:  # one or two spellings: OR keeps the statement's shape fixed
            conds.append(
                sa.exists().where(
                    image_tags.c.image_id == _C.id,
                    sa.or_(*(image_tags.c.tag == tag for tag in alternatives)),
                )
            )
        if q.hide_killed:
            conds.append(_C.status != "killed")
        if q.registered_only:
            conds.append(_C.isregistered == "true")
        keys = _sort_columns(q)
        source = _source(q, caller, _C.id)
        if _by_member_index(q):
            keys = [_M.image_created_at, _M.image_id]  # equal to (created_at, id) row by row
        elif self.sqlite and q.sort[0][0] != "created_at" and (filtered or joined):
            # see sqlite_plans; without a filter most of the catalog matches, as SQLite assumes
            if await sqlite_plans.few_matches(conn, self.compiler, source, conds):
                keys = [sqlite_plans.unindexed(k) for k in keys]
            elif joined:
                source = _source(q, caller, sqlite_plans.unindexed(_C.id))
        if q.marker is not None:
            conds.append(_after(q, keys, await self._marker(conn, q, caller)))
        return (
            sa.select(_C.doc)
            .select_from(source)
            .where(*conds)
            .order_by(*_order(q, keys))
            .limit(q.limit)
        )

    async def _marker(self, conn: AsyncConnection, q: ListQuery, caller: Caller) -> tuple[Any, ...]:
        """The marker image's sort values, in one read with the facts that decide whether the
        caller may see it; an unknown or invisible marker is the same 400."""
        assert q.marker is not None
        if not _storable(q.marker):
            raise errors.MARKER_NOT_FOUND(image_id=q.marker)
        stmt = sa.select(
            _C.owner,
            _C.visibility,
            _C.isregistered,
            _member_status(caller.project_id),
            *_sort_columns(q),
        ).where(_C.id == q.marker)
        rows = await driver.fetch(conn, self.compiler, stmt)
        found = rows[0] if rows else None
        if found is None or not access.can_see(
            caller, ImageAccess(found[0], found[1], found[2] == "true", found[3])
        ):
            raise errors.MARKER_NOT_FOUND(image_id=q.marker)
        return tuple(found[4:])

    async def members(self, image_id: str) -> list[Member]:
        async with self._read() as conn:
            result = await conn.execute(
                sa.select(_M.image_id, _M.member_id, _M.status, _M.created_at, _M.updated_at)
                .where(_M.image_id == image_id)
                .order_by(_M.created_at, _M.member_id)
            )
            return [Member(*r) for r in result]

    async def count(self) -> int:
        async with self._read() as conn:
            return int(
                (await conn.execute(sa.select(sa.func.count()).select_from(images))).scalar_one()
            )

    async def owned(self, project_id: str) -> list[Document]:
        """The documents of the images `project_id` owns, newest first (the IMS tag API's
        queries and aggregates: a project's tags are those of its own images)."""
        async with self._read() as conn:
            result = await conn.execute(
                sa.select(_C.doc)
                .where(_C.owner == project_id)
                .order_by(_C.created_at.desc(), _C.id.desc())
            )
            return [documents.parse(bytes(r[0])) for r in result]

    async def export(self, batch: int = 1000) -> AsyncIterator[tuple[bytes, list[Member]]]:
        """Every image with its members, oldest first (by creation time, then id), read in
        keyset batches. The order is the trailing keys of every images index: an import of
        the export sorts runs already in order when it builds them (PostgreSQL built the
        1M catalog's 22 in 18 s instead of 27, `docs/benchmarks.md`)."""
        after: sa.ColumnElement[bool] = sa.true()
        while True:
            async with self._read() as conn:
                docs = (
                    await conn.execute(
                        sa.select(_C.id, _C.doc, _C.created_at)
                        .where(after)
                        .order_by(_C.created_at, _C.id)
                        .limit(batch)
                    )
                ).all()
                if not docs:
                    return
                ids = [r[0] for r in docs]
                rows = await conn.execute(
                    sa.select(_M.image_id, _M.member_id, _M.status, _M.created_at, _M.updated_at)
                    .where(_M.image_id.in_(ids))
                    .order_by(_M.image_id, _M.created_at, _M.member_id)
                )
            by_image: dict[str, list[Member]] = {}
            for r in rows:
                by_image.setdefault(r[0], []).append(Member(*r))
            for image_id, doc, _created_at in docs:
                yield bytes(doc), by_image.get(image_id, [])
            last_id, _doc, last_created = docs[-1]
            keys = (_C.created_at, _C.id)
            after = sa.tuple_(*keys) > _row_value(keys, (last_created, last_id))

    # --- writes ---------------------------------------------------------------------------
    async def _write_doc(
        self, conn: AsyncConnection, doc: Document, *, old: Document | None = None
    ) -> None:
        """Write `doc` (a new image when `old` is None). The row statements are built once
        (`_INSERT`, `_UPDATE`), so a write costs no statement construction; side-table rows are
        rewritten only when the custom properties or tags changed."""
        values = row(doc)
        image_id = doc["id"]
        if old is None:
            await conn.execute(_INSERT, values)
        else:
            await conn.execute(_UPDATE, {**values, "_id": image_id})
        props = documents.custom_properties(doc)
        if old is None or props != documents.custom_properties(old):
            if old is not None:
                await conn.execute(_DELETE_PROPERTIES, {"_id": image_id})
            if props:
                await conn.execute(
                    image_properties.insert(),
                    [{"image_id": image_id, "name": k, "value": v} for k, v in props.items()],
                )
        tags = doc.get("tags") or []
        if old is None or tags != (old.get("tags") or []):
            if old is not None:
                await conn.execute(_DELETE_TAGS, {"_id": image_id})
            if tags:
                await conn.execute(
                    image_tags.insert(), [{"image_id": image_id, "tag": t} for t in tags]
                )

    async def create(self, doc: Document) -> None:
        async with self.creating(doc):
            pass

    @asynccontextmanager
    async def creating(self, doc: Document) -> AsyncIterator[Transaction]:
        """Create the image `doc` in a transaction the block may add writes to (the job that
        fills it: `JobStore.insert(within=…)`): they commit together when the block ends, or
        none does if it raises, so a crash never leaves the image without its job."""
        async with self._write() as conn:
            exists = (await conn.execute(sa.select(_C.id).where(_C.id == doc["id"]))).first()
            if exists is not None:
                raise errors.IMAGE_ID_EXISTS(image_id=doc["id"])
            if self.quota_defaults is not None:  # the owner's quota, checked and used at once
                await quota_sql.admit(
                    conn,
                    str(doc["owner"]),
                    self.quota_defaults,
                    images=1,
                    size=int(doc.get("size") or 0),
                )
            await self._write_doc(conn, doc)
            yield conn

    @asynccontextmanager
    async def image_for_update(self, image_id: str, caller: Caller) -> AsyncIterator[ImageTx]:
        """The image, locked until the block ends, in the transaction its changes are written
        in: they all commit when the block ends, or none does if it raises. A missing image,
        or one the caller may not see, is the 404 of a missing image."""
        async with self._write() as conn:
            loaded = await self.load(image_id, caller, conn=conn, lock=True)
            yield ImageTx(self, conn, _require_visible(loaded, image_id, caller))

    async def import_items(
        self, items: Iterable[ImageItem], *, progress: Callable[[int], None] | None = None
    ) -> int:
        """Insert all items in one transaction: all of them or, on any error, none. They are
        turned into rows first (`bulk.Spool`), then written by `import_spool`."""
        with bulk.Spool() as spool:
            spool.fill(items)
            return await self.import_spool(spool, progress=progress)

    async def import_spool(
        self, spool: bulk.Spool, *, progress: Callable[[int], None] | None = None
    ) -> int:
        """Insert the images of `spool` in one transaction, through the database's bulk path:
        all of them or, on any error, none (see `store.bulk`). `progress` is told the images
        written, batch by batch."""
        if self.sqlite and bulk.large(spool):
            # the idle connections of the pool would keep the database from leaving the WAL
            # (`bulk.sqlite_rollback_journal`): this process's other writers queue meanwhile
            async with self._sqlite_writer:
                await self.engine.dispose()
                async with (
                    self.engine.connect() as conn,
                    bulk.sqlite_rollback_journal(conn),
                ):
                    conn = await conn.execution_options(**{engines.IMMEDIATE: True})
                    async with conn.begin():
                        return await bulk.write(conn, sqlite=True, spool=spool, progress=progress)
        async with self._write() as conn:
            if not self.sqlite:  # asyncpg: SQLAlchemy starts the transaction on a statement
                await conn.execute(sa.text("SELECT 1"))
            return await bulk.write(conn, sqlite=self.sqlite, spool=spool, progress=progress)

    # --- uploads in progress ---------------------------------------------------------------
    async def heartbeat(self, image_id: str, token: str, now: float) -> bool:
        """Renew an upload's heartbeat; False when the upload is no longer the image's (a
        sweep gave it up, or the image was deleted), so the uploader stops."""
        async with self._write() as conn:
            result = await conn.execute(
                image_uploads.update()
                .where(_U.image_id == image_id, _U.token == token)
                .values(heartbeat_at=now)
            )
            return bool(result.rowcount)

    async def stale_uploads(self, before: float) -> list[Upload]:
        """Uploads whose heartbeat is older than `before`: their process has died."""
        async with self._read() as conn:
            rows = await conn.execute(
                sa.select(_U.image_id, _U.token, _U.space, _U.status_before, _U.heartbeat_at)
                .where(_U.heartbeat_at < before)
                .order_by(_U.image_id)
            )
            return [Upload(*r) for r in rows]

    async def data_states(self, image_ids: Sequence[str]) -> dict[str, tuple[str, Upload | None]]:
        """For `openims gc`: the status of each image that exists, and its upload if one is
        in progress. An id missing from the answer has no row."""
        if not image_ids:
            return {}
        async with self._read() as conn:
            rows = await conn.execute(
                sa.select(_C.id, _C.status, _U.token, _U.space, _U.status_before, _U.heartbeat_at)
                .select_from(images.outerjoin(image_uploads, _U.image_id == _C.id))
                .where(_C.id.in_(list(image_ids)))
            )
            return {
                r[0]: (r[1], None if r[2] is None else Upload(r[0], r[2], r[3], r[4], r[5]))
                for r in rows
            }


def _require_visible(loaded: Loaded | None, image_id: str, caller: Caller) -> Loaded:
    if loaded is None:
        raise errors.IMAGE_NOT_FOUND(image_id=image_id)
    access.require_visible(caller, loaded.access, image_id)
    return loaded


class ImageTx:
    """One image locked for update: its document (parsed once), the caller's access to it,
    its member rows, and the writes, all in the transaction that holds the lock."""

    def __init__(self, store: ImageStore, conn: AsyncConnection, loaded: Loaded) -> None:
        self._store = store
        self._conn = conn
        self.doc: Document = loaded.doc
        self.access = loaded.access
        self.image_id: str = self.doc["id"]
        self.members = MemberOps(conn, self.image_id)

    @property
    def transaction(self) -> Transaction:
        """The transaction that holds the lock, which other stores' writes may join
        (`JobStore.insert(within=…)`): they commit with it, or not at all."""
        return self._conn

    async def save(self, doc: Document) -> None:
        """Write `doc`, a canonical document of this image, in place of the current one."""
        await self._store._write_doc(self._conn, doc, old=self.doc)
        self.doc = doc

    async def upload(self) -> Upload | None:
        """The image's upload in progress, if any."""
        found = (
            await self._conn.execute(
                sa.select(_U.image_id, _U.token, _U.space, _U.status_before, _U.heartbeat_at).where(
                    _U.image_id == self.image_id
                )
            )
        ).first()
        return Upload(*found) if found else None

    async def begin_upload(self, token: str, space: str, status_before: str, now: float) -> None:
        await self._conn.execute(
            image_uploads.insert().values(
                image_id=self.image_id,
                token=token,
                space=space,
                status_before=status_before,
                heartbeat_at=now,
            )
        )

    async def end_upload(self) -> None:
        await self._conn.execute(image_uploads.delete().where(_U.image_id == self.image_id))

    async def bytes_room(self) -> int | None:
        """The bytes the image's owner may still store, besides this image's own (None: no
        byte limit): the first bound of an upload whose size is not known yet."""
        defaults = self._store.quota_defaults
        if defaults is None:
            return None
        return await quota_sql.room(self._conn, self.access.owner, defaults, exclude=self.image_id)

    async def admit_bytes(self, size: int) -> None:
        """Refuse (IMG.0015) unless `size` bytes as this image's data fit the owner's byte
        quota, checked in this transaction under the project's quota lock."""
        defaults = self._store.quota_defaults
        if defaults is not None:
            await quota_sql.admit(
                self._conn, self.access.owner, defaults, size=size, exclude=self.image_id
            )

    async def delete(self) -> None:
        for table in (image_uploads, image_members, image_tags, image_properties):
            await self._conn.execute(table.delete().where(table.c.image_id == self.image_id))
        await self._conn.execute(images.delete().where(_C.id == self.image_id))


class MemberOps:
    """Member rows of one image, inside the transaction that holds the image's lock."""

    def __init__(self, conn: AsyncConnection, image_id: str) -> None:
        self.conn = conn
        self.image_id = image_id

    async def get(self, member_id: str) -> Member | None:
        if not _storable(member_id):
            return None
        found = (
            await self.conn.execute(
                sa.select(_M.image_id, _M.member_id, _M.status, _M.created_at, _M.updated_at).where(
                    _M.image_id == self.image_id, _M.member_id == member_id
                )
            )
        ).first()
        return Member(*found) if found else None

    async def count(self) -> int:
        return int(
            (
                await self.conn.execute(
                    sa.select(sa.func.count())
                    .select_from(image_members)
                    .where(_M.image_id == self.image_id)
                )
            ).scalar_one()
        )

    async def add(self, member_id: str, status: str = "pending") -> Member:
        stamp = times.now()
        await self.conn.execute(
            image_members.insert().values(
                image_id=self.image_id,
                member_id=member_id,
                status=status,
                created_at=stamp,
                updated_at=stamp,
                image_created_at=sa.select(_C.created_at)
                .where(_C.id == self.image_id)
                .scalar_subquery(),
            )
        )
        return Member(self.image_id, member_id, status, stamp, stamp)

    async def set_status(self, member_id: str, status: str) -> Member | None:
        stamp = times.now()
        await self.conn.execute(
            image_members.update()
            .where(_M.image_id == self.image_id, _M.member_id == member_id)
            .values(status=status, updated_at=stamp)
        )
        return await self.get(member_id)

    async def remove(self, member_id: str) -> bool:
        if not _storable(member_id):
            return False
        result = await self.conn.execute(
            image_members.delete().where(_M.image_id == self.image_id, _M.member_id == member_id)
        )
        return bool(result.rowcount)
