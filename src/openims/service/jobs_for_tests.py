"""A job type for OpenIMS's own process-level tests (tests/reliability/test_jobs.py), and for
nothing else: `openimsTestSleep` is registered only when `OPENIMS_TEST_JOBS` is set, and no
route submits it (a test writes its jobs into the database itself). It lets a test kill a
server in the middle of a job and watch another run it again, before any real job type is
slow enough to be caught mid-run on purpose.

A job sleeps `seconds` (or `rerun_seconds` when it is run again after a crash), reporting its
attempt and the process that ran it in its entities, then succeeds."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from openims.service.jobs import JobRun, Jobs

TEST_SLEEP = "openimsTestSleep"


async def sleep(run: JobRun) -> dict[str, Any]:
    seconds = float(run.params.get("seconds", 0))
    if run.attempt > 1:
        seconds = float(run.params.get("rerun_seconds", seconds))
    await run.progress(0.1, attempt=run.attempt, pid=os.getpid())
    await asyncio.sleep(seconds)
    return {"attempt": run.attempt, "pid": os.getpid()}


def register(jobs: Jobs) -> None:
    jobs.register(TEST_SLEEP, sleep)
