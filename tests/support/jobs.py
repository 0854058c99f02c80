"""Asynchronous jobs in tests (docs/jobs.md): waiting for a job to end over HTTP, and
registering a handler on an in-process server's services.

    from tests.support.jobs import register, wait_for_job
    register(server, "testJob", handler)          # once per server; idempotent
    job = wait_for_job(client, job_id)           # the final `show_job` body (SUCCESS or FAIL)

Handlers registered this way exist only in the test process's application: no `openims serve`
can run them, so there is no test-only job type in the product."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from openims.domain.access import Caller
from openims.domain.jobs import Job
from openims.service import jobs_for_tests
from openims.service.jobs import JobHandler, Jobs
from openims.store.engine import create_engine
from openims.store.images import ImageStore
from openims.store.jobs import JobStore
from tests.support.in_process import InProcessServer
from tests.support.servers import AuthServer, Server

ENDED = ("SUCCESS", "FAIL")


def show_job(client: httpx.Client, job_id: str, project_id: str | None = None) -> dict[str, Any]:
    """`GET /v1/{project_id}/jobs/{job_id}` as `client`'s project (`X-Project-Id` of a no-auth
    client, else `project_id`), asserting a 200."""
    project = project_id or client.headers.get("x-project-id") or "demo"
    r = client.get(f"/v1/{project}/jobs/{job_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def wait_for_job(
    client: httpx.Client,
    job_id: str,
    *,
    project_id: str | None = None,
    timeout: float = 30.0,
    statuses: tuple[str, ...] = ENDED,
) -> dict[str, Any]:
    """Poll the job (every 10 ms, then up to every 100 ms) until its status is one of
    `statuses` (by default: it ended); its `show_job` body. Fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pause = 0.01
    while True:
        body = show_job(client, job_id, project_id)
        if body["status"] in statuses:
            return body
        assert time.monotonic() < deadline, f"job {job_id} still {body['status']}: {body}"
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def register(server: Server | AuthServer, job_type: str, handler: JobHandler) -> None:
    """Make the in-process `server` run jobs of `job_type` with `handler` (a server is
    shared by the session's tests: registering the same type again keeps the first)."""
    inner = server.server if isinstance(server, AuthServer) else server
    assert isinstance(inner, InProcessServer), "handlers are registered in-process only"
    jobs = inner.app.state.services.jobs
    if job_type not in jobs.job_types:
        jobs.register(job_type, handler)


def submit(
    server: Server | AuthServer,
    job_type: str,
    params: dict[str, Any],
    *,
    project_id: str = "demo",
    entities: dict[str, Any] | None = None,
) -> str:
    """Submit a job through the in-process server's services, as a route would; its id."""
    inner = server.server if isinstance(server, AuthServer) else server
    assert isinstance(inner, InProcessServer)
    jobs = inner.app.state.services.jobs

    async def go() -> str:
        job_id: str = await jobs.submit(Caller(project_id), job_type, params, entities=entities)
        return job_id

    return inner.transport.portal.call(go)


def submit_sleeps(url: str, params: list[dict[str, Any]], project_id: str) -> list[str]:
    """Jobs of the `openimsTestSleep` type (`service/jobs_for_tests.py`), written into the
    database at `url` as `Jobs.submit` writes them, for servers started with
    `OPENIMS_TEST_JOBS=1` to run (this process runs none)."""

    async def go() -> list[str]:
        engine = create_engine(url, pool_size=1)
        try:
            jobs = Jobs(JobStore(ImageStore(engine)), workers=0)
            jobs_for_tests.register(jobs)
            caller = Caller(project_id)
            return [await jobs.submit(caller, jobs_for_tests.TEST_SLEEP, p) for p in params]
        finally:
            await engine.dispose()

    return asyncio.run(go())


def stored_jobs(url: str, job_ids: list[str]) -> list[Job]:
    """The jobs as stored (with their attempts and lease), read straight from the database."""

    async def go() -> list[Job]:
        engine = create_engine(url, pool_size=1)
        try:
            store = JobStore(ImageStore(engine))
            found = [await store.get(job_id) for job_id in job_ids]
            return [job for job in found if job is not None]
        finally:
            await engine.dispose()

    return asyncio.run(go())
