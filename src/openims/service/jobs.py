"""IMS asynchronous jobs: submitted by the use cases that take long (creating an image from a
file, copying one…), run by workers inside every `openims serve` process, shown by
`GET /v1/{project_id}/jobs/{job_id}` and `GET /v1/cloudimages/job/{job_id}` (docs/jobs.md).

A service that owns a kind of job registers its handler once (`Jobs.register`, in
`Services.__init__`), and submits jobs of it (`Jobs.submit`), answering the job id at once.
Workers claim jobs through the database (`store.jobs`), so any replica may run any job, each
exactly once at a time; a claim is a lease, renewed while the handler runs. A worker that dies
leaves a lapsed lease, and the job is run again from the start by whichever worker claims it
next, or failed after `attempts` runs; a handler is therefore written to be re-run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from openims import errors
from openims.domain import jobs as rules
from openims.domain.access import Caller
from openims.domain.jobs import Job
from openims.store.images import Transaction
from openims.store.jobs import JobStore

log = logging.getLogger("openims.jobs")
# Jitter for the waits of background loops, from a generator of its own: the global `random`
# state is the program's (a test run seeds and checks it), not a server's to move.
_JITTER = random.Random()


def jittered(seconds: float) -> float:
    """A background loop's wait: between half and all of `seconds`, so that the loops of
    several replicas do not keep meeting."""
    return seconds * _JITTER.uniform(0.5, 1.0)


JobHandler = Callable[["JobRun"], Awaitable[dict[str, Any]]]
"""Runs one job to its end and returns the final `entities` (e.g. {"image_id": id}, merged
over the entities it had); raises an `errors.ApiError` (any catalogue error) to fail the job
with that error's code and message as `error_code`/`fail_reason`. Any other exception fails it
with a generic reason (logged)."""


class LeaseLost(Exception):
    """The job is no longer this worker's: its lease lapsed and another worker claimed it (or
    the job is gone). The handler is stopped; what it wrote is the new run's to redo."""


class JobRun:
    """One run of one job, as its handler sees it."""

    def __init__(self, jobs: Jobs, job: Job) -> None:
        self._jobs = jobs
        self._token = job.lease_token or ""
        self.job_id = job.id
        self.project_id = job.project_id  # who submitted it: the owner of what it creates
        self.job_type = job.job_type
        self.params: dict[str, Any] = dict(job.params)  # the JSON given at submit
        self.entities: dict[str, Any] = dict(job.entities)  # as at submit / last progress
        self.attempt = job.attempts  # 1 on the first run, 2+ when re-run after a crash
        self.fraction = job.progress

    @property
    def caller(self) -> Caller:
        """The submitting project as a caller without roles (what the job may see and do)."""
        return Caller(self.project_id)

    async def progress(self, fraction: float, **entities: Any) -> None:
        """Record how far the job has come (0.0-1.0, shown as `process_percent`) and merge
        `entities` into the job's; this also renews the lease. Raises `LeaseLost` if the job
        is no longer this run's. Each call is a database write: report at steps (a few per
        job, or every few seconds), not per block of data."""
        self.fraction = min(1.0, max(0.0, float(fraction)))
        self.entities.update(entities)
        kept = await self._jobs.store.progress(
            self.job_id, self._token, self._jobs.lease_end(), self.fraction, self.entities
        )
        if not kept:
            raise LeaseLost(self.job_id)


class Jobs:
    """The job registry, the submit and show use cases, and this process's workers."""

    def __init__(
        self,
        store: JobStore,
        *,
        lease: float = 60.0,
        attempts: int = 3,
        workers: int = 2,
        poll: float = 1.0,
        retention: float = 0.0,
    ) -> None:
        self.store = store
        self.lease = lease  # seconds a claim lasts without renewal (renewed every third)
        self.attempts = attempts  # runs a job gets before a lapsed lease fails it
        self.workers = workers  # jobs this process runs at once
        self.poll = poll  # seconds between looks for work when there is none
        self.retention = retention  # seconds an ended job is kept (0: for ever)
        self._handlers: dict[str, JobHandler] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # --- the interface other services use -------------------------------------------------
    def register(self, job_type: str, handler: JobHandler) -> None:
        """Make this process run jobs of `job_type` with `handler` (once per type)."""
        if job_type in self._handlers:
            raise ValueError(f"a handler for job type {job_type!r} is already registered")
        self._handlers[job_type] = handler
        self._wake.set()

    @property
    def job_types(self) -> list[str]:
        return sorted(self._handlers)

    async def submit(
        self,
        caller: Caller,
        job_type: str,
        params: dict[str, Any],
        *,
        entities: dict[str, Any] | None = None,
        within: Transaction | None = None,
    ) -> str:
        """Record a job of `job_type` for the caller's project (INIT) and return its id; a
        worker of any replica runs it. `params` and `entities` must be JSON. `within` a
        transaction of the image store (`ImageStore.creating`), the job is written there and
        commits with it: the caller then calls `wake` once it has committed."""
        if job_type not in self._handlers:
            raise ValueError(f"no handler is registered for job type {job_type!r}")
        job = Job(
            id=rules.new_id(),
            project_id=caller.project_id,
            job_type=job_type,
            status=rules.INIT,
            params=params,
            entities=dict(entities or {}),
            progress=0.0,
            attempts=0,
            error_code=None,
            fail_reason=None,
            created_at=time.time(),
            begin_at=None,
            end_at=None,
        )
        await self.store.insert(job, within=within)
        if within is None:
            self.wake()
        return job.id

    async def unfinished(self, job_type: str, *, within: Transaction) -> list[Job]:
        """The jobs of `job_type` that have not ended (to run, or running), read `within` a
        write transaction: a use case that allows one such job per image checks and submits
        in the transaction that holds the image's lock (`Exports.submit`)."""
        return await self.store.unfinished(
            job_type, now=time.time(), attempts=self.attempts, within=within
        )

    def wake(self) -> None:
        """A worker of this process looks for work now rather than at its next look."""
        self._wake.set()

    async def get(self, caller: Caller, job_id: str) -> Job:
        """The caller's project's job, or the 404 of a missing one (another project's job is
        not shown, not even to an admin: jobs belong to the project that submitted them)."""
        job = await self.store.get(job_id) if rules.is_job_id(job_id) else None
        if job is None or job.project_id != caller.project_id:
            raise errors.JOB_NOT_FOUND(job_id=job_id)
        return job

    async def recent(self, caller: Caller, limit: int = 50) -> list[Job]:
        """The caller's project's latest jobs, newest first (the web console's jobs page);
        like `get`, only the project's own, admin or not."""
        return await self.store.recent(caller.project_id, limit)

    async def show(self, caller: Caller, job_id: str) -> dict[str, Any]:
        """`GET /v1/{project_id}/jobs/{job_id}`: the job as `ShowJobResponse` reads it."""
        return (await self.get(caller, job_id)).body()

    async def show_progress(self, caller: Caller, job_id: str) -> dict[str, Any]:
        """`GET /v1/cloudimages/job/{job_id}`: the same with `entities.process_percent`."""
        return (await self.get(caller, job_id)).body(with_progress=True)

    async def prune(self) -> int:
        """Remove the jobs that ended more than `retention` seconds ago (the servers' sweep);
        how many."""
        if not self.retention:
            return 0
        return await self.store.prune(time.time() - self.retention)

    # --- the workers ----------------------------------------------------------------------
    def lease_end(self) -> float:
        return time.time() + self.lease

    def start(self) -> None:
        """Start this process's workers (the application's lifespan)."""
        if not self._tasks:
            self._stopping = False
            self._tasks = [
                asyncio.create_task(self._work(), name=f"openims-job-worker-{n}")
                for n in range(self.workers)
            ]

    async def stop(self) -> None:
        """Stop the workers. A job still running is given back (`JobStore.release`) for a
        worker of another process, or of this one's next start, to run again at once."""
        tasks, self._tasks = self._tasks, []
        # the flag as well as the cancellation: a cancellation that lands as a wait or a
        # database call ends can be lost on Python 3.11, and a worker must still stop then
        self._stopping = True
        self._wake.set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _work(self) -> None:
        while not self._stopping:
            try:
                job = await self._claim()
            except Exception as exc:
                if errors.database_unavailable(exc):  # an outage: one line a look, no trace
                    log.warning("claiming a job failed: the database is unavailable")
                else:
                    log.exception("claiming a job failed; trying again later")
                job = None
            if job is None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(jittered(self.poll)):
                        await self._wake.wait()
                if not self._stopping:
                    self._wake.clear()
                continue
            if self._stopping:  # claimed as the process stops: give it straight back
                with contextlib.suppress(Exception):
                    await self.store.release(job.id, job.lease_token or "")
                return
            await self._run(job)

    async def _claim(self) -> Job | None:
        now = time.time()
        return await self.store.claim(
            self.job_types,
            now=now,
            until=now + self.lease,
            token=uuid.uuid4().hex,
            attempts=self.attempts,
        )

    async def _run(self, job: Job) -> None:
        """Run `job` to its end under its lease and record how it ended."""
        run = JobRun(self, job)
        token = job.lease_token or ""
        handler = self._handlers[job.job_type]
        log.info("job %s (%s) started, attempt %d", job.id, job.job_type, job.attempts)
        work = asyncio.create_task(_call(handler, run), name=f"openims-job-{job.id}")
        lost = asyncio.Event()
        renewing = asyncio.create_task(self._renew(job.id, token, work, lost))
        try:
            try:
                returned = await work
            except asyncio.CancelledError:
                if lost.is_set() and not _cancelling():
                    log.warning("job %s: its lease was taken over; this run stops", job.id)
                    return
                raise
            except LeaseLost:
                log.warning("job %s: its lease was taken over; this run stops", job.id)
                return
            except errors.ApiError as exc:
                await self._end(run, token, rules.FAIL, code=exc.code, reason=exc.message)
                return
            except Exception:
                log.exception("job %s (%s) failed", job.id, job.job_type)
                failure = errors.JOB_FAILED(job_id=job.id)
                await self._end(run, token, rules.FAIL, code=failure.code, reason=failure.message)
                return
            run.entities.update(returned or {})
            run.fraction = 1.0
            await self._end(run, token, rules.SUCCESS)
        except asyncio.CancelledError:
            # the process is stopping: give the job back so it runs again at once elsewhere
            with contextlib.suppress(Exception):
                await asyncio.shield(self.store.release(job.id, token))
            raise
        except Exception:
            # the end could not be recorded (the database is away): the lease lapses and the
            # job runs again
            log.exception("job %s: recording its end failed; it will run again", job.id)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    async def _end(
        self,
        run: JobRun,
        token: str,
        status: str,
        *,
        code: str | None = None,
        reason: str | None = None,
    ) -> None:
        kept = await self.store.finish(
            run.job_id,
            token,
            status=status,
            now=time.time(),
            entities=run.entities,
            progress=run.fraction,
            error_code=code,
            fail_reason=reason,
        )
        if kept:
            log.info("job %s ended: %s", run.job_id, status)
        else:
            log.warning("job %s: taken over before it ended; its end is not recorded", run.job_id)

    async def _renew(
        self, job_id: str, token: str, work: asyncio.Task[Any], lost: asyncio.Event
    ) -> None:
        """Renew the lease every third of it while `work` runs; stop `work` once the lease is
        no longer ours. A renewal that fails (the database is away) is tried again at the
        next turn: the lease may lapse meanwhile, and then the job runs again elsewhere."""
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                kept = await self.store.renew(job_id, token, self.lease_end())
            except Exception:
                log.warning("job %s: renewing its lease failed; retrying", job_id, exc_info=True)
                continue
            if not kept:
                lost.set()
                work.cancel()
                return


async def _call(handler: JobHandler, run: JobRun) -> dict[str, Any]:
    return await handler(run)


def _cancelling() -> bool:
    """Whether the current task itself is being cancelled (the process stopping)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
