"""IMS asynchronous jobs over HTTP, on SQLite and PostgreSQL: `show_job` and
`show_job_progress` of jobs run by a handler the test registers on the in-process
application's services (docs/jobs.md). The crash and replica behaviour is
tests/reliability/test_jobs.py."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any

import httpx
import pytest

from openims import errors
from openims.service.jobs import JobRun
from tests.support.fixtures import server_fixture
from tests.support.jobs import register, show_job, submit, wait_for_job
from tests.support.servers import Server

server = server_fixture("server", in_process=True)

JOB_TYPE = "testJob"
TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
released = threading.Event()  # what a `wait` job waits for


async def handler(run: JobRun) -> dict[str, Any]:
    """Does what its params say: succeed (with progress), fail with a catalogue error, raise,
    or wait for the test to release it."""
    what = run.params["do"]
    if what == "wait":
        await run.progress(0.25, current_task="waiting")
        # a threading.Event set by the test thread: polled, since the job runs on the
        # application's event loop
        while not released.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    if what == "refuse":
        raise errors.IMAGE_NOT_FOUND(image_id=run.params["image_id"])
    if what == "crash":
        raise RuntimeError("a bug")
    await run.progress(0.5, image_name="half")
    return {"image_id": "e9e91bff-14b6-4a0b-8377-4ed0813e3360"}


@pytest.fixture
def jobs_server(server: Server) -> Server:
    register(server, JOB_TYPE, handler)
    return server


def client(server: Server, project: str = "demo") -> httpx.Client:
    return server.connect({"X-Project-Id": project})


def test_a_job_runs_to_success(jobs_server: Server) -> None:
    job_id = submit(jobs_server, JOB_TYPE, {"do": "succeed"}, entities={"image_name": "n"})
    assert re.fullmatch(r"[0-9a-f]{32}", job_id)
    job = wait_for_job(client(jobs_server), job_id)
    assert set(job) == {
        "status",
        "job_id",
        "job_type",
        "begin_time",
        "end_time",
        "entities",
        "error_code",
        "fail_reason",
    }
    assert job["status"] == "SUCCESS"
    assert job["job_id"] == job_id
    assert job["job_type"] == JOB_TYPE
    assert TIME.fullmatch(job["begin_time"]) and TIME.fullmatch(job["end_time"])
    assert job["entities"] == {
        "image_id": "e9e91bff-14b6-4a0b-8377-4ed0813e3360",
        "image_name": "half",
    }
    assert job["error_code"] is None and job["fail_reason"] is None
    r = client(jobs_server).get(f"/v1/cloudimages/job/{job_id}")
    assert r.status_code == 200, r.text
    assert r.json()["entities"]["process_percent"] == 1.0
    assert {k: v for k, v in r.json().items() if k != "entities"} == {
        k: v for k, v in job.items() if k != "entities"
    }


def test_a_refusal_fails_the_job_with_its_code_and_message(jobs_server: Server) -> None:
    job_id = submit(jobs_server, JOB_TYPE, {"do": "refuse", "image_id": "x-1"})
    job = wait_for_job(client(jobs_server), job_id)
    assert job["status"] == "FAIL"
    assert job["error_code"] == errors.IMAGE_NOT_FOUND.code
    assert job["fail_reason"] == "No image found with ID x-1"
    assert TIME.fullmatch(job["end_time"])


def test_an_unexpected_exception_fails_the_job_with_a_generic_reason(
    jobs_server: Server,
) -> None:
    job_id = submit(jobs_server, JOB_TYPE, {"do": "crash"})
    job = wait_for_job(client(jobs_server), job_id)
    assert job["status"] == "FAIL"
    assert job["error_code"] == "IMG.0061"
    assert job_id in job["fail_reason"]
    assert "a bug" not in job["fail_reason"]  # the exception is logged, not shown


def test_progress_is_shown_while_the_job_runs(jobs_server: Server) -> None:
    released.clear()
    job_id = submit(jobs_server, JOB_TYPE, {"do": "wait"})
    c = client(jobs_server)
    try:
        deadline_body = None
        for _ in range(1000):
            r = c.get(f"/v1/cloudimages/job/{job_id}")
            assert r.status_code == 200, r.text
            if r.json()["entities"].get("current_task") == "waiting":
                deadline_body = r.json()
                break
            threading.Event().wait(0.01)
        assert deadline_body is not None
        assert deadline_body["status"] == "RUNNING"
        assert deadline_body["entities"]["process_percent"] == 0.25
        assert TIME.fullmatch(deadline_body["begin_time"])
        assert deadline_body["end_time"] == ""
        running = show_job(c, job_id)
        assert running["status"] == "RUNNING"
        assert "process_percent" not in running["entities"]
    finally:
        released.set()
    assert wait_for_job(c, job_id)["status"] == "SUCCESS"


def test_another_projects_job_is_not_found(jobs_server: Server) -> None:
    job_id = submit(jobs_server, JOB_TYPE, {"do": "succeed"}, project_id="tenant-a")
    wait_for_job(client(jobs_server, "tenant-a"), job_id)
    other = client(jobs_server, "tenant-b")
    for path in (f"/v1/tenant-b/jobs/{job_id}", f"/v1/cloudimages/job/{job_id}"):
        r = other.get(path)
        assert r.status_code == 404, r.text
        assert r.json() == {
            "error": {"message": f"No job found with ID {job_id}.", "code": "IMG.0031"}
        }
    admin = jobs_server.connect({"X-Project-Id": "tenant-b", "X-Roles": "admin"})
    assert admin.get(f"/v1/cloudimages/job/{job_id}").status_code == 404


def test_a_path_naming_another_project_is_refused(jobs_server: Server) -> None:
    job_id = submit(jobs_server, JOB_TYPE, {"do": "succeed"}, project_id="tenant-a")
    r = client(jobs_server, "tenant-b").get(f"/v1/tenant-a/jobs/{job_id}")
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "IMG.0067"


@pytest.mark.parametrize(
    "job_id",
    ["0" * 32, "nope", "ff8080814dbd65d7014dbe0d84db001", "F" * 32, "%00", "..%5c..%5cetc"],
)
def test_an_unknown_job_is_not_found(jobs_server: Server, job_id: str) -> None:
    c = client(jobs_server)
    for path in (f"/v1/demo/jobs/{job_id}", f"/v1/cloudimages/job/{job_id}"):
        r = c.get(path)
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] in ("IMG.0031", "APIGW.0101")
