"""Asynchronous jobs under crashes and replicas, with real `openims serve` processes on
SQLite and PostgreSQL (docs/jobs.md). The servers run the `openimsTestSleep` job type
(`OPENIMS_TEST_JOBS`, service/jobs_for_tests.py), whose jobs the test writes into the
database itself: no route submits it.

- SIGKILL of a server in the middle of two jobs, a restart: once the lease lapses the restarted
  server runs both again from the start (attempt 2); the one that is quick the second time
  ends SUCCESS. SIGKILL again, restart: the other, which had its two runs, ends FAIL with the
  reason (IMG.0061), never RUNNING for ever.
- Two replicas on one database run 50 jobs: each ends SUCCESS, run exactly once (one claim,
  attempt 1), and both replicas took part."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.scale import TIMEOUT
from tests.support.jobs import show_job, stored_jobs, submit_sleeps, wait_for_job
from tests.support.servers import ServerProcess, start_server

pytestmark = [pytest.mark.slow, TIMEOUT]

PROJECT = "p-jobs"
LEASE = 1.0  # seconds: a killed server's jobs are run again this long after its last renewal
ENV = {
    "OPENIMS_TEST_JOBS": "1",
    "OPENIMS_JOB_LEASE": str(LEASE),
    "OPENIMS_JOB_ATTEMPTS": "2",
    "OPENIMS_JOB_POLL": "0.05",
    "OPENIMS_JOB_WORKERS": "2",
}
FOREVER = 3600.0


def kill(server: ServerProcess) -> None:
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(10)
    server.stop()


def wait_until(server: ServerProcess, job_id: str, predicate: Any, timeout: float = 30) -> None:
    c = server.client(PROJECT)
    deadline = time.monotonic() + timeout
    while not predicate(body := show_job(c, job_id, PROJECT)):
        assert time.monotonic() < deadline, body
        time.sleep(0.02)


def running_attempt(n: int) -> Any:
    return lambda job: job["status"] == "RUNNING" and job["entities"].get("attempt") == n


def test_killed_jobs_run_again_or_fail_and_replicas_run_each_once(
    db_url: str, tmp_path: Path
) -> None:
    server = start_server(db_url, tmp_path, auth=False, env=ENV)
    try:
        quick_rerun, never_ends = submit_sleeps(
            db_url, [{"seconds": FOREVER, "rerun_seconds": 0}, {"seconds": FOREVER}], PROJECT
        )
        for job_id in (quick_rerun, never_ends):
            wait_until(server, job_id, running_attempt(1))
        kill(server)

        server = start_server(db_url, tmp_path, auth=False, env=ENV)
        c = server.client(PROJECT)
        done = wait_for_job(c, quick_rerun, project_id=PROJECT)
        assert done["status"] == "SUCCESS", done
        assert done["entities"]["attempt"] == 2
        assert done["error_code"] is None
        wait_until(server, never_ends, running_attempt(2))
        kill(server)

        server = start_server(db_url, tmp_path, auth=False, env=ENV)
        failed = wait_for_job(server.client(PROJECT), never_ends, project_id=PROJECT)
        assert failed["status"] == "FAIL", failed
        assert failed["error_code"] == "IMG.0061"
        assert "stopped 2 times" in failed["fail_reason"]
        assert failed["end_time"]

        # --- replicas: every job once, by either -------------------------------------------
        other = start_server(db_url, tmp_path, auth=False, env=ENV)
        try:
            job_ids = submit_sleeps(db_url, [{"seconds": 0.05}] * 50, PROJECT)
            for job_id in job_ids:
                body = wait_for_job(other.client(PROJECT), job_id, project_id=PROJECT)
                assert body["status"] == "SUCCESS", body
            jobs = stored_jobs(db_url, job_ids)
            assert len(jobs) == 50
            assert {job.attempts for job in jobs} == {1}, "a job was claimed twice"
            assert {job.entities["attempt"] for job in jobs} == {1}
            by_process = Counter(job.entities["pid"] for job in jobs)
            assert set(by_process) == {server.process.pid, other.process.pid}, by_process
        finally:
            other.stop()
    finally:
        server.stop()
