"""The job store's claims on SQLite and PostgreSQL (`store.jobs`, docs/jobs.md): concurrent
claimers never get the same job, a lapsed lease is claimed again and counted, a job out of
runs is failed with its reason, a taken-over worker writes nothing, and a job given back at
shutdown is claimed at once without counting the interrupted run. Each test has a database of
its own (`own_db`): the session's servers run jobs on the shared one and would claim these."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from openims.domain import jobs as rules
from openims.domain.access import Caller
from openims.domain.jobs import Job
from openims.service.jobs import JobRun, Jobs
from openims.store.engine import create_engine
from openims.store.images import ImageStore
from openims.store.jobs import JobStore

T = TypeVar("T")
TYPE = "testJob"


def job(created_at: float, job_type: str = TYPE) -> Job:
    return Job(
        id=rules.new_id(),
        project_id="p1",
        job_type=job_type,
        status=rules.INIT,
        params={"n": created_at},
        entities={},
        progress=0.0,
        attempts=0,
        error_code=None,
        fail_reason=None,
        created_at=created_at,
        begin_at=None,
        end_at=None,
    )


def run(url: str, body: Callable[[JobStore], Awaitable[T]]) -> T:
    async def go() -> T:
        engine = create_engine(url, pool_size=8)
        try:
            return await body(JobStore(ImageStore(engine)))
        finally:
            await engine.dispose()

    return asyncio.run(go())


def token() -> str:
    return uuid.uuid4().hex


def test_concurrent_claims_take_each_job_once(own_db: str) -> None:
    async def body(store: JobStore) -> list[str]:
        for n in range(20):
            await store.insert(job(1000.0 + n))
        await store.insert(job(999.0, job_type="otherJob"))  # not a type these claimers run

        async def claimer() -> list[str]:
            taken = []
            while got := await store.claim([TYPE], now=2000, until=2060, token=token(), attempts=3):
                taken.append(got.id)
            return taken

        results = await asyncio.gather(*(claimer() for _ in range(6)))
        return [job_id for taken in results for job_id in taken]

    taken = run(own_db, body)
    assert len(taken) == 20 and len(set(taken)) == 20


def test_a_lapsed_lease_is_claimed_again_then_given_up(own_db: str) -> None:
    async def body(store: JobStore) -> None:
        submitted = job(1000.0)
        await store.insert(submitted)
        first = await store.claim([TYPE], now=1000, until=1010, token="a" * 32, attempts=2)
        assert first is not None and first.attempts == 1 and first.begin_at == 1000
        # while the lease holds, nobody else gets it
        assert await store.claim([TYPE], now=1005, until=1015, token=token(), attempts=2) is None
        second = await store.claim([TYPE], now=1011, until=1021, token="b" * 32, attempts=2)
        assert second is not None and second.id == submitted.id and second.attempts == 2
        assert second.begin_at == 1000  # the job began at its first run
        # the first worker was taken over: it writes nothing any more
        assert not await store.renew(submitted.id, "a" * 32, 2000)
        assert not await store.progress(submitted.id, "a" * 32, 2000, 0.5, {"x": 1})
        assert not await store.finish(
            submitted.id, "a" * 32, status=rules.SUCCESS, now=1012, entities={}, progress=1.0
        )
        assert await store.renew(submitted.id, "b" * 32, 1030)
        # the second dies too: out of runs, the next claim fails it with the reason
        assert await store.claim([TYPE], now=1031, until=1041, token=token(), attempts=2) is None
        failed = await store.get(submitted.id)
        assert failed is not None
        assert failed.status == rules.FAIL and failed.error_code == "IMG.0061"
        assert failed.fail_reason is not None and "2 times" in failed.fail_reason
        assert failed.end_at == 1031 and failed.lease_token is None

    run(own_db, body)


def test_a_released_job_is_claimed_at_once_without_counting(own_db: str) -> None:
    async def body(store: JobStore) -> None:
        submitted = job(1000.0)
        await store.insert(submitted)
        claimed = await store.claim([TYPE], now=1000, until=1060, token="a" * 32, attempts=1)
        assert claimed is not None
        assert await store.release(submitted.id, "a" * 32)
        again = await store.claim([TYPE], now=1001, until=1061, token="b" * 32, attempts=1)
        assert again is not None and again.attempts == 1  # not given up: the run was not lost
        assert await store.finish(
            submitted.id,
            "b" * 32,
            status=rules.SUCCESS,
            now=1002,
            entities={"image_id": "i"},
            progress=1.0,
        )
        done = await store.get(submitted.id)
        assert done is not None and done.status == rules.SUCCESS
        assert done.entities == {"image_id": "i"} and done.end_at == 1002
        assert not await store.renew(submitted.id, "b" * 32, 2000)  # ended: nothing to renew

    run(own_db, body)


def test_stopping_the_workers_gives_a_running_job_back(own_db: str) -> None:
    """`Jobs.stop` (the application's shutdown) cancels a running handler and gives its job
    back: another process's workers run it at once, as its first counted attempt."""

    async def body(store: JobStore) -> tuple[Job | None, Job | None]:
        started = asyncio.Event()
        runs: list[int] = []

        async def forever(run: JobRun) -> dict[str, Any]:
            runs.append(run.attempt)
            started.set()
            await asyncio.Event().wait()
            return {}

        async def quick(run: JobRun) -> dict[str, Any]:
            runs.append(run.attempt)
            return {"image_id": "done"}

        first = Jobs(store, lease=60, workers=1, poll=0.01)
        first.register(TYPE, forever)
        first.start()
        job_id = await first.submit(Caller("p1"), TYPE, {})
        await asyncio.wait_for(started.wait(), 10)
        await first.stop()
        given_back = await store.get(job_id)

        second = Jobs(store, lease=60, workers=1, poll=0.01)
        second.register(TYPE, quick)
        second.start()
        try:
            for _ in range(500):
                done = await store.get(job_id)
                if done is not None and done.status == rules.SUCCESS:
                    break
                await asyncio.sleep(0.01)
        finally:
            await second.stop()
        assert runs == [1, 1]
        return given_back, await store.get(job_id)

    given_back, done = run(own_db, body)
    assert given_back is not None
    assert given_back.status == rules.RUNNING and given_back.attempts == 0
    assert given_back.lease_token is None and given_back.lease_until == 0
    assert done is not None and done.status == rules.SUCCESS
    assert done.entities == {"image_id": "done"} and done.attempts == 1


def test_ended_jobs_are_pruned_after_the_retention(own_db: str) -> None:
    async def body(store: JobStore) -> tuple[int, list[str | None]]:
        old, recent, running = job(1.0), job(2.0), job(3.0)
        for j in (old, recent, running):
            await store.insert(j)
        for j, ended in ((old, 100.0), (recent, 200.0)):
            claimed = await store.claim(
                [TYPE], now=ended, until=ended + 60, token=token(), attempts=3
            )
            assert claimed is not None and claimed.id == j.id and claimed.lease_token
            await store.finish(
                j.id, claimed.lease_token, status=rules.SUCCESS, now=ended, entities={}, progress=1
            )
        assert await store.claim([TYPE], now=300, until=10**10, token=token(), attempts=3)
        removed = await store.prune(150.0)
        left = [await store.get(j.id) for j in (old, recent, running)]
        return removed, [None if j is None else j.status for j in left]

    removed, left = run(own_db, body)
    assert removed == 1
    assert left == [None, rules.SUCCESS, rules.RUNNING]


def test_a_job_is_claimed_only_by_servers_of_its_stores(own_db: str) -> None:
    """A job records the stores of the server that accepted it (`placement`): a server with
    other stores on the same database passes over it; one without a placement recorded
    (written by a tool, not a server) is anyone's."""

    async def body(store: JobStore) -> list[str | None]:
        here = JobStore(store.images, "stores-a")
        there = JobStore(store.images, "stores-b")
        ours, anyone = job(1000.0), job(1001.0)
        await here.insert(ours)
        await store.insert(anyone)

        async def claim(claimer: JobStore) -> str | None:
            got = await claimer.claim([TYPE], now=2000, until=2060, token=token(), attempts=3)
            return None if got is None else got.id

        return [await claim(there), await claim(there), await claim(here), ours.id, anyone.id]

    first, second, third, ours, anyone = run(own_db, body)
    assert (first, second, third) == (anyone, None, ours)
