"""The SQL of project quotas (docs/quotas.md): the operator's per-project limits
(`tables.project_quotas`), a project's usage, and `admit`, the check made inside the write
transaction that adds an image or image bytes.

Race safety: on PostgreSQL `admit` first takes a transaction-scoped advisory lock named after
the project, so two transactions adding to one project run their check-and-write one after
the other (the second sees the first's row). On SQLite every write transaction is
`BEGIN IMMEDIATE`: one writer at a time already."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from openims.domain import quotas, registry
from openims.domain.quotas import Limits, Override, Usage
from openims.store.tables import images, project_quotas


class Connections(Protocol):
    """The connections of the database the quotas live in: `ImageStore` gives them (its
    writes queue with the image writes on SQLite). A protocol, not the class, because the
    image store uses this module's `admit` and `room` inside its own transactions."""

    def reading(self) -> AbstractAsyncContextManager[AsyncConnection]: ...

    def writing(self) -> AbstractAsyncContextManager[AsyncConnection]: ...


_Q = project_quotas.c

_SIZE = images.c[registry.BY_NAME["size"].column or "size"]


async def usage(conn: AsyncConnection, project_id: str, *, exclude: str | None = None) -> Usage:
    """The images `project_id` owns and their bytes (without the image `exclude`)."""
    query = sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(_SIZE), 0)).where(
        images.c.owner == project_id
    )
    if exclude is not None:
        query = query.where(images.c.id != exclude)
    count, total = (await conn.execute(query)).one()
    return Usage(int(count), int(total))


async def override(conn: AsyncConnection, project_id: str) -> Override | None:
    row = (
        await conn.execute(
            sa.select(_Q.project_id, _Q.images, _Q.bytes).where(_Q.project_id == project_id)
        )
    ).first()
    return None if row is None else Override(*row)


async def lock(conn: AsyncConnection, project_id: str) -> None:
    """Serialize the quota checks of one project until the transaction ends (PostgreSQL;
    SQLite's write transactions are serialized already)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(
            sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(project_id, 0)))
        )


async def limits(conn: AsyncConnection, project_id: str, defaults: Limits) -> Limits:
    return defaults.over(await override(conn, project_id))


async def admit(
    conn: AsyncConnection,
    project_id: str,
    defaults: Limits,
    *,
    images: int = 0,
    size: int = 0,
    exclude: str | None = None,
) -> None:
    """Inside a write transaction: lock the project's quota, then refuse (IMG.0015) unless
    `images` more images and `size` more bytes fit (`exclude`: an image whose bytes are
    being replaced, not counted)."""
    await lock(conn, project_id)
    found = await limits(conn, project_id, defaults)
    quotas.require_room(
        project_id, found, await usage(conn, project_id, exclude=exclude), images=images, size=size
    )


async def room(
    conn: AsyncConnection, project_id: str, defaults: Limits, *, exclude: str | None = None
) -> int | None:
    """The bytes the project may still add (None: no byte limit), as a first bound for an
    upload whose size is not known yet; the upload is admitted again when it ends."""
    found = await limits(conn, project_id, defaults)
    return quotas.bytes_room(found, await usage(conn, project_id, exclude=exclude))


class QuotaStore:
    """The operator's per-project limits and the usage `show_image_quota` reports."""

    def __init__(self, store: Connections) -> None:
        self.store = store

    async def get(self, project_id: str) -> Override | None:
        async with self.store.reading() as conn:
            return await override(conn, project_id)

    async def all(self) -> list[Override]:
        async with self.store.reading() as conn:
            rows = await conn.execute(
                sa.select(_Q.project_id, _Q.images, _Q.bytes).order_by(_Q.project_id)
            )
            return [Override(*r) for r in rows]

    async def set(self, project_id: str, *, images: int | None, size: int | None) -> Override:
        """Set the project's limits: the values given replace the project's own, the others
        stay as they were (None: the default)."""
        async with self.store.writing() as conn:
            current = await override(conn, project_id)
            new = Override(
                project_id,
                images if images is not None else (current.images if current else None),
                size if size is not None else (current.bytes if current else None),
            )
            if current is None:
                await conn.execute(
                    project_quotas.insert().values(
                        project_id=project_id, images=new.images, bytes=new.bytes
                    )
                )
            else:
                await conn.execute(
                    project_quotas.update()
                    .where(_Q.project_id == project_id)
                    .values(images=new.images, bytes=new.bytes)
                )
            return new

    async def unset(self, project_id: str) -> bool:
        """Back to the defaults; False if the project had no limits of its own."""
        async with self.store.writing() as conn:
            result = await conn.execute(project_quotas.delete().where(_Q.project_id == project_id))
            return bool(result.rowcount)

    async def owners(self) -> dict[str, int]:
        """Every project that owns images, with how many."""
        async with self.store.reading() as conn:
            rows = await conn.execute(
                sa.select(images.c.owner, sa.func.count()).group_by(images.c.owner)
            )
            return {str(owner): int(count) for owner, count in rows}

    async def usage(self, project_id: str) -> Usage:
        async with self.store.reading() as conn:
            return await usage(conn, project_id)
