"""A creating job whose server is killed half-way (SIGKILL while the bytes stream), on SQLite
and PostgreSQL with real `openims serve` processes: after a restart the job is run again from
the start, takes over what the dead run left, and ends SUCCESS with the image whole — its
size and MD5 those of the file — and no other blob in the image store (docs/ims-creating.md,
"The job")."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import pytest

from tests.reliability.scale import TIMEOUT
from tests.support.jobs import wait_for_job
from tests.support.servers import ServerProcess, image_store_for, start_server
from tests.support.uploads import raw_bytes

pytestmark = [pytest.mark.slow, TIMEOUT]

PROJECT = "p-crash"
SIZE = 128 << 20  # large enough that the copy is still running when the server is killed
# a short lease, so the restarted server runs the job again soon; attempts to spare, so a
# lease lost to a loaded machine (a renewal late) does not fail the job
ENV = {"OPENIMS_JOB_LEASE": "2", "OPENIMS_JOB_ATTEMPTS": "5", "OPENIMS_JOB_POLL": "0.05"}


def big_file(path: Path) -> str:
    """A sparse raw disk of SIZE bytes with data at both ends; its MD5."""
    path.parent.mkdir(parents=True)
    head, tail = raw_bytes(1 << 20), raw_bytes(1 << 20)
    with path.open("wb") as f:
        f.write(head)
        f.truncate(SIZE)
        f.seek(SIZE - len(tail))
        f.write(tail)
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while block := f.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def test_a_killed_creating_job_runs_again_and_ends_whole(own_db: str, tmp_path: Path) -> None:
    db_url = own_db
    obs = tmp_path / "obs"
    md5 = big_file(obs / "crash-bucket" / "disk.raw")
    env = {**ENV, "OPENIMS_OBS": str(obs)}
    server: ServerProcess = start_server(db_url, tmp_path, auth=False, env=env)
    try:
        c = server.client(PROJECT)
        body = {"name": "survivor", "image_url": "crash-bucket:disk.raw", "min_disk": 40}
        r = c.post("/v2/cloudimages/action", json=body)
        assert r.status_code == 200, r.text
        job_id = r.json()["job_id"]
        image_id = c.get(f"/v1/{PROJECT}/jobs/{job_id}").json()["entities"]["image_id"]
        deadline = time.monotonic() + 30
        while c.get(f"/v2/images/{image_id}").json()["status"] != "saving":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
        server.stop()

        server = start_server(db_url, tmp_path, auth=False, env=env)
        c = server.client(PROJECT)
        job = wait_for_job(c, job_id, project_id=PROJECT, timeout=120)
        assert job["status"] == "SUCCESS", str(job)
        assert job["entities"]["image_id"] == image_id
        doc = c.get(f"/v2/images/{image_id}").json()
        assert (doc["status"], doc["size"], doc["checksum"]) == ("active", SIZE, md5)
        root = Path(image_store_for(db_url, tmp_path).removeprefix("file://"))
        committed = [p.name for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]
        assert committed == [image_id]  # a temporary of the killed run is the sweep's
    finally:
        server.stop()
