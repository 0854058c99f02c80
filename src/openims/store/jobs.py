"""The SQL of IMS asynchronous jobs (`tables.jobs`, docs/jobs.md).

A worker claims one job at a time: the oldest INIT job of a type it runs, or a RUNNING one
whose lease has lapsed (its worker died). The claim is one transaction that reads the row
locked (PostgreSQL `FOR UPDATE SKIP LOCKED`, so concurrent claimers of other replicas pass over
each other's rows instead of queueing; SQLite `BEGIN IMMEDIATE`, one writer at a time) and
marks it RUNNING under a fresh lease token. Every later write of the worker (renewal,
progress, the end) names that token, so a worker whose lease was taken over changes nothing.

A job is claimed only by servers of its `placement`: the image store and object storage of the
server that accepted it. Replicas of one deployment share them, so any of them runs any job; a
server configured with other stores on the same database (a mistake in production, the normal
case among test servers) never runs a job whose bytes it could not reach.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from openims import errors
from openims.domain import jobs as rules
from openims.domain.jobs import Job
from openims.store.images import ImageStore, Transaction
from openims.store.tables import jobs

_J = jobs.c
_COLUMNS = (
    _J.id,
    _J.project_id,
    _J.job_type,
    _J.status,
    _J.params,
    _J.entities,
    _J.progress,
    _J.attempts,
    _J.error_code,
    _J.fail_reason,
    _J.created_at,
    _J.begin_at,
    _J.end_at,
    _J.lease_token,
    _J.lease_until,
)


def _job(row: Sequence[Any]) -> Job:
    values = list(row)
    values[4] = orjson.loads(values[4])
    values[5] = orjson.loads(values[5])
    return Job(*values)


def _json(value: dict[str, Any]) -> str:
    return orjson.dumps(value).decode()


def _lapsed(now: float) -> sa.ColumnElement[bool]:
    return sa.and_(_J.status == rules.RUNNING, _J.lease_until < now)


class JobStore:
    """Jobs, over the image store's engine and transactions (one SQLite writer queue)."""

    def __init__(self, images: ImageStore, placement: str = "") -> None:
        self.images = images
        self.sqlite = images.sqlite
        # what this server's jobs are recorded with and which it claims; "" (a job written
        # without one) is claimed by any server
        self.placement = placement
        self._placements = sorted({placement, ""})

    async def insert(self, job: Job, *, within: Transaction | None = None) -> None:
        """Record `job`; `within` a transaction of the image store (`ImageStore.creating`),
        it commits with that transaction's other writes."""
        statement = jobs.insert().values(
            id=job.id,
            project_id=job.project_id,
            job_type=job.job_type,
            status=job.status,
            params=_json(job.params),
            entities=_json(job.entities),
            progress=job.progress,
            attempts=job.attempts,
            created_at=job.created_at,
            placement=self.placement,
        )
        if within is not None:
            await within.execute(statement)
            return
        async with self.images.writing() as conn:
            await conn.execute(statement)

    async def get(self, job_id: str) -> Job | None:
        async with self.images.reading() as conn:
            row = (await conn.execute(sa.select(*_COLUMNS).where(_J.id == job_id))).first()
        return None if row is None else _job(row)

    async def unfinished(
        self, job_type: str, *, now: float, attempts: int, within: Transaction
    ) -> list[Job]:
        """The jobs of `job_type` that are still to run or running, read `within` a write
        transaction of the image store: INIT, or RUNNING, except one whose lease lapsed after
        its `attempts` runs (the next claim fails it)."""
        exhausted = sa.and_(_lapsed(now), _J.attempts >= attempts)
        query = sa.select(*_COLUMNS).where(
            _J.job_type == job_type,
            _J.status.in_((rules.INIT, rules.RUNNING)),
            sa.not_(exhausted),
        )
        return [_job(row) for row in (await within.execute(query)).all()]

    async def recent(self, project_id: str, limit: int) -> list[Job]:
        """The project's latest `limit` jobs, newest first (the console's jobs page)."""
        query = (
            sa.select(*_COLUMNS)
            .where(_J.project_id == project_id)
            .order_by(_J.created_at.desc(), _J.id.desc())
            .limit(limit)
        )
        async with self.images.reading() as conn:
            rows = (await conn.execute(query)).all()
        return [_job(row) for row in rows]

    async def claim(
        self, types: Sequence[str], *, now: float, until: float, token: str, attempts: int
    ) -> Job | None:
        """Claim the oldest job of one of `types` that is INIT, or RUNNING with a lapsed lease,
        for the lease `token` until `until`; None when there is none. Before that, in the same
        transaction, a lapsed job of any type that has had `attempts` runs already is failed
        (`give_up`): its worker died each time."""
        if not types:
            return None
        # an idle worker looks first, in a read: no write transaction (no SQLite write lock,
        # no row locks) unless there is something to claim or to give up
        waiting = sa.or_(
            sa.and_(
                _J.job_type.in_(list(types)),
                _J.placement.in_(self._placements),
                sa.or_(_J.status == rules.INIT, _lapsed(now)),
            ),
            sa.and_(_lapsed(now), _J.attempts >= attempts),  # to give up, whatever its kind
        )
        async with self.images.reading() as conn:
            if (await conn.execute(sa.select(_J.id).where(waiting).limit(1))).first() is None:
                return None
        async with self.images.writing() as conn:
            await self._give_up(conn, now=now, attempts=attempts)
            query = (
                sa.select(*_COLUMNS)
                .where(
                    _J.job_type.in_(list(types)),
                    _J.placement.in_(self._placements),
                    sa.or_(_J.status == rules.INIT, _lapsed(now)),
                )
                .order_by(_J.created_at, _J.id)
                .limit(1)
            )
            if not self.sqlite:
                query = query.with_for_update(skip_locked=True)
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            job = _job(row)
            begin = job.begin_at if job.begin_at is not None else now
            await conn.execute(
                jobs.update()
                .where(_J.id == job.id)
                .values(
                    status=rules.RUNNING,
                    attempts=job.attempts + 1,
                    begin_at=begin,
                    lease_token=token,
                    lease_until=until,
                )
            )
        return Job(
            **{
                **{c.name: getattr(job, c.name) for c in _COLUMNS},
                "status": rules.RUNNING,
                "attempts": job.attempts + 1,
                "begin_at": begin,
                "lease_token": token,
                "lease_until": until,
            }
        )

    async def _give_up(self, conn: AsyncConnection, *, now: float, attempts: int) -> None:
        """Fail the lapsed jobs that have had `attempts` runs. On PostgreSQL the rows another
        claimer holds are skipped (it is failing them itself), so claimers never wait on, or
        deadlock over, each other's rows."""
        reason = errors.JOB_INTERRUPTED(attempts=attempts)
        exhausted = sa.and_(_lapsed(now), _J.attempts >= attempts)
        if not self.sqlite:
            locked = sa.select(_J.id).where(exhausted).with_for_update(skip_locked=True)
            exhausted = _J.id.in_(locked.scalar_subquery())
        await conn.execute(
            jobs.update()
            .where(exhausted)
            .values(
                status=rules.FAIL,
                error_code=reason.code,
                fail_reason=reason.message,
                end_at=now,
                lease_token=None,
                lease_until=None,
            )
        )

    async def prune(self, before: float) -> int:
        """Delete the jobs that ended before `before`; how many."""
        async with self.images.writing() as conn:
            result = await conn.execute(
                jobs.delete().where(_J.status.in_(rules.ENDED), _J.end_at < before)
            )
            return int(result.rowcount or 0)

    async def renew(self, job_id: str, token: str, until: float) -> bool:
        """Extend the lease; False when `token` no longer holds the job."""
        return await self._update(job_id, token, lease_until=until)

    async def progress(
        self, job_id: str, token: str, until: float, fraction: float, entities: dict[str, Any]
    ) -> bool:
        """Record progress (and renew the lease); False when `token` no longer holds the job."""
        return await self._update(
            job_id, token, lease_until=until, progress=fraction, entities=_json(entities)
        )

    async def finish(
        self,
        job_id: str,
        token: str,
        *,
        status: str,
        now: float,
        entities: dict[str, Any],
        progress: float,
        error_code: str | None = None,
        fail_reason: str | None = None,
    ) -> bool:
        """End the job; False (and nothing written) when `token` no longer holds it."""
        return await self._update(
            job_id,
            token,
            status=status,
            end_at=now,
            entities=_json(entities),
            progress=progress,
            error_code=error_code,
            fail_reason=fail_reason,
            lease_token=None,
            lease_until=None,
        )

    async def release(self, job_id: str, token: str) -> bool:
        """Give a job back unfinished (its process is stopping): its lease lapses at once, so
        another worker runs it again without waiting, and this run is not counted."""
        async with self.images.writing() as conn:
            result = await conn.execute(
                jobs.update()
                .where(_J.id == job_id, _J.lease_token == token, _J.status == rules.RUNNING)
                .values(lease_until=0.0, lease_token=None, attempts=_J.attempts - 1)
            )
            return bool(result.rowcount)

    async def _update(self, job_id: str, token: str, **values: Any) -> bool:
        async with self.images.writing() as conn:
            result = await conn.execute(
                jobs.update()
                .where(_J.id == job_id, _J.lease_token == token, _J.status == rules.RUNNING)
                .values(**values)
            )
            return bool(result.rowcount)
