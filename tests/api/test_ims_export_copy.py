"""Exporting and copying images and the batch member calls, over HTTP on SQLite and PostgreSQL:
each an asynchronous job polled to its end, every synchronous refusal in the IMS error format
with its documented code (docs/ims-export-copy.md). The object storage is a directory of
buckets (`OPENIMS_OBS`); exported files are read back with the real `qemu-img`."""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from botocore.session import get_session

from openims.domain import copies
from openims.errors import ApiError
from openims.service import qemu
from openims.service.image_data import SYSTEM
from openims.service.jobs import JobRun
from tests.support import databases
from tests.support.in_process import InProcessServer, start_in_process
from tests.support.seaweed import S3Server
from tests.support.servers import Server

OBS = Path(tempfile.mkdtemp(prefix="openims-obs-"))
atexit.register(shutil.rmtree, OBS, True)
BUCKET = "exports"
REGION = "cn-north-4"
# Every server on one database claims the jobs of the types it knows, and a job a test submits
# must be run by the server that has the test's image store and object storage: these tests
# have databases of their own (not the session's, where other modules' servers run), and their
# servers look for work only when their own submission wakes them (a long poll).
QUIET = {"OPENIMS_JOB_POLL": "86400"}


@pytest.fixture(scope="module", params=databases.BACKENDS)
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database of this module, of each backend."""
    if request.param == "postgres":
        with databases.postgres_database() as url:
            yield url
    else:
        yield databases.sqlite_database(tmp_path_factory.mktemp("export-copy"))


@pytest.fixture(scope="module")
def module_server(database: str) -> Iterator[InProcessServer]:
    server = start_in_process(
        database, {"OPENIMS_OBS": str(OBS), "OPENIMS_REGION": REGION, **QUIET}
    )
    yield server
    server.stop()


@pytest.fixture
def server(module_server: InProcessServer) -> Iterator[Server]:
    """The module's server on its emptied database."""
    databases.empty(module_server.database_url)
    yield module_server
    module_server.close_clients()


VIRTUAL_SIZE = 64 << 20


@pytest.fixture(scope="module")
def qcow2(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A small real qcow2 (64 MiB disk, a little data written into it)."""
    directory = tmp_path_factory.mktemp("qcow2")
    raw, image = directory / "disk.raw", directory / "disk.qcow2"
    with raw.open("wb") as f:
        f.truncate(VIRTUAL_SIZE)
        f.seek(1 << 20)
        f.write(b"OpenIMS" * 1000)
    subprocess.run(
        ["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(image)],
        check=True,
    )
    return image.read_bytes()


@pytest.fixture
def bucket() -> Path:
    """An empty bucket `exports` in the object storage."""
    path = OBS / BUCKET
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def iso_image() -> bytes:
    """The smallest ISO 9660 file the format inspector reads: an empty system area, then a
    primary volume descriptor of 17 blocks of 2 KiB."""
    data = bytearray(17 * 2048)
    header = 32 * 1024
    data[header] = 1
    data[header + 1 : header + 6] = b"CD001"
    data[header + 80 : header + 84] = (17).to_bytes(4, "little")
    data[header + 128 : header + 130] = (2048).to_bytes(2, "little")
    return bytes(data)


def ims_error(r: httpx.Response, status: int, code: str) -> dict[str, str]:
    """An IMS refusal: the status, and `{"error": {"message", "code"}}` without Glance's title."""
    assert r.status_code == status, r.text
    error: dict[str, str] = r.json()["error"]
    assert set(error) == {"message", "code"} and error["code"] == code, error
    return error


def image_with(c: httpx.Client, data: bytes, disk_format: str = "qcow2", **fields: Any) -> str:
    r = c.post(
        "/v2/images",
        json={"name": "src", "disk_format": disk_format, "container_format": "bare", **fields},
    )
    assert r.status_code == 201, r.text
    image_id: str = r.json()["id"]
    r = c.put(
        f"/v2/images/{image_id}/file",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 204, r.text
    return image_id


def wait(c: httpx.Client, job_id: str, project: str = "demo") -> dict[str, Any]:
    """The job once it has ended (polled every 50 ms, for at most 60 s)."""
    deadline = time.monotonic() + 60
    while True:
        r = c.get(f"/v1/{project}/jobs/{job_id}")
        assert r.status_code == 200, r.text
        job: dict[str, Any] = r.json()
        if job["status"] in ("SUCCESS", "FAIL"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def submitted(r: httpx.Response) -> str:
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"job_id"}
    job_id: str = r.json()["job_id"]
    return job_id


def qemu_info(path: Path, fmt: str) -> dict[str, Any]:
    out = subprocess.run(
        ["qemu-img", "info", "-f", fmt, "--output=json", str(path)],
        check=True,
        capture_output=True,
    ).stdout
    info: dict[str, Any] = json.loads(out)
    return info


# --- export_image --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("file_format", "qemu_format"), [("vhd", "vpc"), ("qcow2", "qcow2"), ("vmdk", "vmdk")]
)
def test_export_converts_to_a_file_of_the_same_disk(
    server: Server, qcow2: bytes, bucket: Path, file_format: str, qemu_format: str
) -> None:
    c = server.client()
    image_id = image_with(c, qcow2)
    r = c.post(
        f"/v1/cloudimages/{image_id}/file",
        json={"bucket_url": f"{BUCKET}:out/disk.{file_format}", "file_format": file_format},
    )
    job = wait(c, submitted(r))
    assert job["status"] == "SUCCESS", job
    assert job["job_type"] == "imsNativeExportImageJob"
    assert job["entities"]["image_id"] == image_id
    exported = bucket / "out" / f"disk.{file_format}"
    info = qemu_info(exported, qemu_format)
    assert info["format"] == qemu_format and info["virtual-size"] == VIRTUAL_SIZE
    if file_format == "vhd":  # a dynamic VHD: its footer's disk type is 3
        assert exported.read_bytes()[-512:][:8] == b"conectix"
        assert int.from_bytes(exported.read_bytes()[-512 + 60 : -512 + 64], "big") == 3
    assert list(bucket.rglob("*")) == [bucket / "out", exported]  # nothing else left there


def test_qemu_img_is_stopped_at_its_output_bound(qcow2: bytes, tmp_path: Path) -> None:
    """The file size limit holds whatever qemu-img is asked to write: a fixed VHD of the
    64 MiB disk would be 64 MiB, and stops at 1 MiB."""
    source, target = tmp_path / "disk.qcow2", tmp_path / "big.vhd"
    source.write_bytes(qcow2)
    convert = qemu.convert(
        source, "qcow2", target, "vpc", ("-o", "subformat=fixed"), time_limit=30, max_output=1 << 20
    )
    with pytest.raises(qemu.QemuError) as stopped:
        asyncio.run(convert)
    assert stopped.value.too_large
    assert target.stat().st_size <= 1 << 20


def test_quick_export_writes_the_stored_bytes(server: Server, qcow2: bytes, bucket: Path) -> None:
    c = server.client()
    image_id = image_with(c, qcow2)
    r = c.post(
        f"/v2.1/cloudimages/{image_id}/file",
        json={"bucket_url": f"{BUCKET}:quick.img", "is_quick_export": True},
    )
    assert wait(c, submitted(r))["status"] == "SUCCESS"
    assert (
        hashlib.sha256((bucket / "quick.img").read_bytes()).digest()
        == hashlib.sha256(qcow2).digest()
    )


def test_export_of_a_raw_image_of_any_size(server: Server, bucket: Path) -> None:
    c = server.client()
    image_id = image_with(c, b"x" * 1000, disk_format="raw")
    r = c.post(
        f"/v1/cloudimages/{image_id}/file",
        json={"bucket_url": f"{BUCKET}:raw.vhd", "file_format": "vhd"},
    )
    assert wait(c, submitted(r))["status"] == "SUCCESS"
    assert qemu_info(bucket / "raw.vhd", "vpc")["virtual-size"] == 1024  # whole sectors


def test_a_failed_export_leaves_nothing(server: Server, qcow2: bytes, bucket: Path) -> None:
    """A conversion stopped at its time limit fails the job with IMS's IMG.0071, and leaves
    neither an object nor anything in the scratch directory."""
    if not isinstance(server, InProcessServer):
        pytest.skip("shortens the time limit of an in-process server's exports")
    exports = server.app.state.services.exports
    c = server.client()
    image_id = image_with(c, qcow2)
    # no time at all: with 1 ms, a server whose loop got the CPU late found the conversion
    # already over when the clock started, and the export succeeded (seen on a loaded machine)
    exports.timeout = 0.0
    try:
        r = c.post(
            f"/v1/cloudimages/{image_id}/file",
            json={"bucket_url": f"{BUCKET}:never.vhd", "file_format": "vhd"},
        )
        job = wait(c, submitted(r))
    finally:
        exports.timeout = server.app.state.settings.export_timeout
    assert (job["status"], job["error_code"]) == ("FAIL", "IMG.0071"), job
    assert "longer than" in job["fail_reason"]
    assert list(bucket.iterdir()) == []
    assert list(exports.scratch.iterdir()) == []
    assert c.get(f"/v2/images/{image_id}").json()["status"] == "active"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"file_format": "vhd"}, "IMG.0001"),
        ({"bucket_url": "no-colon", "file_format": "vhd"}, "IMG.0017"),
        ({"bucket_url": f"{BUCKET}:../../etc/passwd", "file_format": "vhd"}, "IMG.0017"),
        ({"bucket_url": ":x.vhd", "file_format": "vhd"}, "IMG.0068"),
        ({"bucket_url": "Bad_Bucket:x.vhd", "file_format": "vhd"}, "IMG.0109"),
        ({"bucket_url": "missing-bucket:x.vhd", "file_format": "vhd"}, "IMG.0069"),
        ({"bucket_url": f"{BUCKET}:x.zvhd", "file_format": "zvhd"}, "IMG.0072"),
        ({"bucket_url": f"{BUCKET}:x.zvhd2", "file_format": "zvhd2"}, "IMG.0072"),
        ({"bucket_url": f"{BUCKET}:x.img", "file_format": "raw"}, "IMG.0072"),
        ({"bucket_url": f"{BUCKET}:x.img"}, "IMG.0001"),
        ({"bucket_url": f"{BUCKET}:x", "is_quick_export": True, "file_format": "vhd"}, "IMG.0001"),
        ({"bucket_url": f"{BUCKET}:x", "is_quick_export": "yes"}, "IMG.0001"),
        ({"bucket_url": f"{BUCKET}:taken.vhd", "file_format": "vhd"}, "IMG.0070"),
    ],
)
def test_export_refusals_change_nothing(
    server: Server, qcow2: bytes, bucket: Path, body: dict[str, Any], code: str
) -> None:
    c = server.client()
    image_id = image_with(c, qcow2)
    (bucket / "taken.vhd").write_bytes(b"someone's file")
    ims_error(c.post(f"/v1/cloudimages/{image_id}/file", json=body), 400, code)
    assert sorted(p.name for p in bucket.iterdir()) == ["taken.vhd"]
    assert (bucket / "taken.vhd").read_bytes() == b"someone's file"


def test_export_only_of_ones_own_active_image(server: Server, qcow2: bytes, bucket: Path) -> None:
    owner, member, other = server.client("p1"), server.client("p2"), server.client("p3")
    image_id = image_with(owner, qcow2)
    body = {"bucket_url": f"{BUCKET}:x.vhd", "file_format": "vhd"}
    path = f"/v1/cloudimages/{image_id}/file"
    ims_error(other.post(path, json=body), 404, "IMG.0027")  # not seen: a missing image
    ims_error(member.post(f"/v1/cloudimages/{uuid.uuid4()}/file", json=body), 404, "IMG.0027")
    assert owner.post(f"/v2/images/{image_id}/members", json={"member": "p2"}).status_code == 200
    ims_error(member.post(path, json=body), 403, "IMG.0047")
    queued = owner.post("/v2/images", json={"name": "q", "disk_format": "qcow2"}).json()["id"]
    ims_error(owner.post(f"/v1/cloudimages/{queued}/file", json=body), 400, "IMG.0046")
    public = image_with(server.admin(), qcow2, visibility="public")
    ims_error(owner.post(f"/v1/cloudimages/{public}/file", json=body), 400, "IMG.0077")
    iso = image_with(owner, iso_image(), disk_format="iso")
    ims_error(owner.post(f"/v1/cloudimages/{iso}/file", json=body), 400, "IMG.0167")
    ims_error(owner.post(f"/v1/cloudimages/{iso}/copy", json={"name": "x"}), 400, "IMG.0167")
    assert list(bucket.iterdir()) == []
    admin = server.admin()  # an admin exports any image: its job keeps the admin's roles
    assert (
        wait(admin, submitted(admin.post(path, json=body)), "admin-project")["status"] == "SUCCESS"
    )
    assert [p.name for p in bucket.iterdir()] == ["x.vhd"]


def test_one_export_of_an_image_at_a_time(server: Server, qcow2: bytes, bucket: Path) -> None:
    """IMS refuses an export of an image while another export of it has not ended (IMG.0148):
    of six requests sent at once, exactly one is taken and five refused; another image exports
    meanwhile; once the export has ended, the next one of the image is taken."""
    if not isinstance(server, InProcessServer):
        pytest.skip("holds the job workers of an in-process server")
    jobs, portal = server.app.state.services.jobs, server.transport.portal
    c = server.client()
    image_id, other_id = image_with(c, qcow2), image_with(c, qcow2)

    def export(image: str, name: str) -> httpx.Response:
        body = {"bucket_url": f"{BUCKET}:{name}.vhd", "file_format": "vhd"}
        return server.client().post(f"/v1/cloudimages/{image}/file", json=body)

    portal.call(jobs.stop)  # the jobs wait: none ends while the requests come
    try:
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda n: export(image_id, f"at-once-{n}"), range(6)))
        taken = [r for r in answers if r.status_code == 200]
        assert len(taken) == 1, [r.text for r in answers]
        for r in answers:
            if r is not taken[0]:
                assert ims_error(r, 400, "IMG.0148")["message"] == "The image is being exported."
        other_job = submitted(export(other_id, "other"))
    finally:
        portal.call(jobs.start)
    assert wait(c, submitted(taken[0]))["status"] == "SUCCESS"
    assert wait(c, other_job)["status"] == "SUCCESS"
    assert wait(c, submitted(export(image_id, "again")))["status"] == "SUCCESS"
    written = sorted(p.name for p in bucket.iterdir())
    assert [name for name in written if not name.startswith("at-once-")] == [
        "again.vhd",
        "other.vhd",
    ] and len(written) == 3, written


# --- copy_image_in_region -------------------------------------------------------------------
def test_copy_makes_a_new_image_with_the_same_bytes(server: Server, qcow2: bytes) -> None:
    c = server.client("p1")
    source_id = image_with(c, qcow2, min_disk=1, os_distro="ubuntu")
    source = c.get(f"/v2/images/{source_id}").json()
    r = c.post(
        f"/v1/cloudimages/{source_id}/copy",
        json={"name": "the-copy", "description": "copied", "enterprise_project_id": "0"},
    )
    job = wait(c, submitted(r), "p1")
    assert job["status"] == "SUCCESS", job
    assert job["job_type"] == "imsCopyImageInRegionJob"
    copy_id = job["entities"]["image_id"]
    assert job["entities"]["image_name"] == "the-copy"
    copy = c.get(f"/v2/images/{copy_id}").json()
    assert copy_id != source_id and copy["status"] == "active"
    assert (copy["name"], copy["__description"], copy["owner"]) == ("the-copy", "copied", "p1")
    assert copy["__originalimagename"] == source_id
    assert copy["enterprise_project_id"] == "0"
    for same in ("size", "checksum", "os_hash_value", "virtual_size", "disk_format", "min_disk"):
        assert copy[same] == source[same], same
    assert copy["os_distro"] == "ubuntu" and copy["visibility"] == "private"
    download = c.get(f"/v2/images/{copy_id}/file")
    assert download.status_code == 200 and download.content == qcow2
    assert c.get(f"/v2/images/{source_id}").json() == source  # the source is untouched
    c.delete(f"/v2/images/{source_id}")
    assert c.get(f"/v2/images/{copy_id}/file").content == qcow2  # bytes of its own


def test_copy_in_safe_mode_and_of_an_accepted_shared_image(server: Server, qcow2: bytes) -> None:
    owner, member = server.client("p1"), server.client("p2")
    source_id = image_with(owner, qcow2)
    owner.post(f"/v2/images/{source_id}/members", json={"member": "p2"})
    path = f"/v2.1/cloudimages/{source_id}/copy"
    ims_error(member.post(path, json={"name": "mine"}), 400, "IMG.0196")  # pending
    member.put(f"/v2/images/{source_id}/members/p2", json={"status": "accepted"})
    job = wait(member, submitted(member.post(path, json={"name": "mine"})), "p2")
    assert job["status"] == "SUCCESS", job
    copy = member.get(f"/v2/images/{job['entities']['image_id']}").json()
    assert copy["owner"] == "p2" and copy["__originalimagename"] == source_id


class Rerun:
    """A run of a copy job as its handler sees it, run straight on the services (a crash is
    simulated by what the test leaves in the store before it)."""

    def __init__(self, params: dict[str, Any], attempt: int) -> None:
        self.job_id, self.project_id, self.job_type = uuid.uuid4().hex, "p1", "copy"
        self.params, self.attempt = params, attempt
        self.entities: dict[str, Any] = {}

    async def progress(self, fraction: float, **entities: Any) -> None:
        self.entities.update(entities)


def test_a_copy_job_run_again_takes_its_image_over(server: Server, qcow2: bytes) -> None:
    """A run that died after making its image (left `queued` by the sweep) is taken over by
    the next run, which copies again; a run after a finished one changes nothing; a run that
    fails removes the image it made."""
    if not isinstance(server, InProcessServer):
        pytest.skip("drives the services of an in-process server")
    services = server.app.state.services
    c = server.client("p1")
    source_id = image_with(c, qcow2)
    new_id = str(uuid.uuid4())
    params: dict[str, Any] = {"image_id": source_id, "new_image_id": new_id, "roles": []}
    params |= {"name": "again", "description": "", "enterprise_project_id": None}

    async def crashed_then_rerun() -> dict[str, Any]:
        source = (await services.store.image(source_id, SYSTEM)).doc
        request = copies.CopyRequest.of(params)
        doc = copies.copied_document(source, request, image_id=new_id, owner="p1", now=1)
        await services.store.create({**doc, "status": "queued"})
        result: dict[str, Any] = await services.copies.run(cast(JobRun, Rerun(params, 2)))
        return result

    assert server.transport.portal.call(crashed_then_rerun)["image_id"] == new_id
    copy = c.get(f"/v2/images/{new_id}").json()
    assert copy["status"] == "active" and c.get(f"/v2/images/{new_id}/file").content == qcow2

    async def once_more() -> dict[str, Any]:
        result: dict[str, Any] = await services.copies.run(cast(JobRun, Rerun(params, 3)))
        return result

    assert server.transport.portal.call(once_more)["image_id"] == new_id
    assert c.get(f"/v2/images/{new_id}").json() == copy

    gone = {**params, "new_image_id": str(uuid.uuid4())}
    assert c.delete(f"/v2/images/{source_id}").status_code == 204

    async def source_gone() -> None:
        await services.copies.run(cast(JobRun, Rerun(gone, 1)))

    with pytest.raises(ApiError) as failed:
        server.transport.portal.call(source_gone)
    assert failed.value.code == "IMG.0027"
    assert c.get(f"/v2/images/{gone['new_image_id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "IMG.0013"),
        ({"name": ""}, "IMG.0013"),
        ({"name": " lead"}, "IMG.0003"),
        ({"name": "x" * 129}, "IMG.0002"),
        ({"name": "ok", "description": "<b>"}, "IMG.0054"),
        ({"name": "ok", "cmk_id": "bd66288c-9081-460a-8227-4cbd0c814cb4"}, "IMG.0095"),
        ({"name": "ok", "enterprise_project_id": "not-a-uuid"}, "IMG.0001"),
    ],
)
def test_copy_refusals_change_nothing(
    server: Server, qcow2: bytes, body: dict[str, Any], code: str
) -> None:
    c = server.client("p1")
    source_id = image_with(c, qcow2)
    ims_error(c.post(f"/v1/cloudimages/{source_id}/copy", json=body), 400, code)
    assert [i["id"] for i in c.get("/v2/images").json()["images"]] == [source_id]


def test_copy_past_the_image_quota_is_refused(server: Server, qcow2: bytes) -> None:
    if not isinstance(server, InProcessServer):
        pytest.skip("sets a project's quota through an in-process server's services")
    quotas = server.app.state.services.quotas

    async def two_images() -> None:
        await quotas.set("p1", images=2, size=None)

    server.transport.portal.call(two_images)
    c = server.client("p1")
    source_id = image_with(c, qcow2)
    assert c.post("/v2/images", json={"name": "second"}).status_code == 201
    ims_error(c.post(f"/v1/cloudimages/{source_id}/copy", json={"name": "x"}), 400, "IMG.0015")
    assert len(c.get("/v2/images").json()["images"]) == 2


def test_copy_only_of_what_the_caller_may_copy(server: Server, qcow2: bytes) -> None:
    owner, other = server.client("p1"), server.client("p3")
    source_id = image_with(owner, qcow2)
    ims_error(other.post(f"/v1/cloudimages/{source_id}/copy", json={"name": "x"}), 404, "IMG.0027")
    public = image_with(server.admin(), qcow2, visibility="public")
    ims_error(other.post(f"/v1/cloudimages/{public}/copy", json={"name": "x"}), 400, "IMG.0083")
    queued = owner.post("/v2/images", json={"name": "q"}).json()["id"]
    ims_error(owner.post(f"/v1/cloudimages/{queued}/copy", json={"name": "x"}), 400, "IMG.0046")


# --- copy_image_cross_region ----------------------------------------------------------------
CROSS = {"name": "far", "region": "eu-west-0", "project_name": "eu-west-0", "agency_name": "a"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (CROSS, 400, "IMG.0108"),
        ({**CROSS, "region": REGION}, 400, "IMG.0105"),
        ({**CROSS, "region": ""}, 400, "IMG.0001"),
        ({k: v for k, v in CROSS.items() if k != "agency_name"}, 400, "IMG.0001"),
        ({k: v for k, v in CROSS.items() if k != "name"}, 400, "IMG.0013"),
    ],
)
def test_cross_region_copy_is_refused(
    server: Server, qcow2: bytes, body: dict[str, Any], status: int, code: str
) -> None:
    c = server.client("p1")
    source_id = image_with(c, qcow2)
    ims_error(c.post(f"/v1/cloudimages/{source_id}/cross_region_copy", json=body), status, code)
    assert len(c.get("/v2/images").json()["images"]) == 1


def test_cross_region_copy_of_an_unseen_image_is_not_found(server: Server) -> None:
    r = server.client().post(f"/v1/cloudimages/{uuid.uuid4()}/cross_region_copy", json=CROSS)
    ims_error(r, 404, "IMG.0027")


# --- batch members ---------------------------------------------------------------------------
def ids(c: httpx.Client, path: str, params: dict[str, str]) -> set[str]:
    r = c.get(path, params=params)
    assert r.status_code == 200, r.text
    return {i["id"] for i in r.json()["images"]}


def members(c: httpx.Client, image_id: str) -> dict[str, str]:
    r = c.get(f"/v2/images/{image_id}/members")
    assert r.status_code == 200, r.text
    return {m["member_id"]: m["status"] for m in r.json()["members"]}


def test_batch_members_agree_with_the_glance_member_calls(server: Server) -> None:
    owner, p2, p3 = server.client("p1"), server.client("p2"), server.client("p3")
    images = [owner.post("/v2/images", json={"name": f"i{n}"}).json()["id"] for n in range(2)]
    body = {"images": images, "projects": ["p2", "p3"]}
    job = wait(owner, submitted(owner.post("/v1/cloudimages/members", json=body)), "p1")
    assert job["status"] == "SUCCESS" and job["job_type"] == "imsAddImageMembersJob", job
    assert job["entities"]["results"] == [
        {"image_id": i, "project_id": p, "status": "success"} for i in images for p in ("p2", "p3")
    ]
    assert all(members(owner, i) == {"p2": "pending", "p3": "pending"} for i in images)

    r = p2.put(
        "/v1/cloudimages/members",
        json={"images": images, "project_id": "p2", "status": "accepted"},
    )
    job = wait(p2, submitted(r), "p2")
    assert job["status"] == "SUCCESS" and job["job_type"] == "imsUpdateImageMembersJob", job
    shared = {"member_status": "accepted", "visibility": "shared"}
    assert ids(p2, "/v2/cloudimages", shared) == set(images)
    assert ids(p2, "/v2/images", {"member_status": "accepted"}) >= set(images)
    assert ids(p2, "/v2/cloudimages", {"member_status": "pending", "visibility": "shared"}) == set()
    assert members(owner, images[0]) == {"p2": "accepted", "p3": "pending"}

    # the owner may not accept for a member: the Glance rule (403), pair by pair
    r = owner.put(
        "/v1/cloudimages/members", json={"images": images, "project_id": "p3", "status": "accepted"}
    )
    job = wait(owner, submitted(r), "p1")
    assert job["status"] == "FAIL" and job["error_code"] == "IMG.0026", job
    assert {x["status"] for x in job["entities"]["results"]} == {"failed"}

    r = owner.request(
        "DELETE", "/v1/cloudimages/members", json={"images": images, "projects": ["p2"]}
    )
    job = wait(owner, submitted(r), "p1")
    assert job["status"] == "SUCCESS" and job["job_type"] == "imsDelImageMembersJob", job
    assert all(members(owner, i) == {"p3": "pending"} for i in images)
    assert p3.get(f"/v2/images/{images[0]}").status_code == 200


def test_batch_add_reports_each_image(server: Server) -> None:
    owner, other = server.client("p1"), server.client("p9")
    mine = owner.post("/v2/images", json={"name": "mine"}).json()["id"]
    theirs = other.post("/v2/images", json={"name": "theirs"}).json()["id"]
    r = owner.post("/v1/cloudimages/members", json={"images": [mine, theirs], "projects": ["p2"]})
    job = wait(owner, submitted(r), "p1")
    assert job["status"] == "FAIL" and job["error_code"] == "IMG.0027", job
    assert job["entities"]["results"] == [
        {"image_id": mine, "project_id": "p2", "status": "success"},
        {"image_id": theirs, "project_id": "p2", "status": "failed"},
    ]
    assert members(owner, mine) == {"p2": "pending"}
    assert members(other, theirs) == {}


def test_readers_change_no_members(server: Server) -> None:
    reader = server.client("p1", roles="reader")
    body = {"images": ["a"], "projects": ["p2"]}
    ims_error(reader.post("/v1/cloudimages/members", json=body), 403, "IMG.0026")
    ims_error(reader.request("DELETE", "/v1/cloudimages/members", json=body), 403, "IMG.0026")


@pytest.mark.parametrize(
    ("method", "body", "code"),
    [
        ("POST", {}, "IMG.0001"),
        ("POST", {"images": [], "projects": ["p2"]}, "IMG.0001"),
        ("POST", {"images": ["a"], "projects": "p2"}, "IMG.0001"),
        ("POST", {"images": ["a"] * 101, "projects": ["p2"]}, "IMG.0001"),
        ("POST", {"images": ["a"], "projects": ["p2"], "domains": ["d"]}, "IMG.0105"),
        ("POST", {"images": ["a"], "projects": ["p2"], "organizations": ["o"]}, "IMG.0105"),
        ("DELETE", {"images": ["a"]}, "IMG.0001"),
        ("PUT", {"images": ["a"], "project_id": "p2", "status": "pending"}, "IMG.0001"),
        ("PUT", {"images": ["a"], "status": "accepted"}, "IMG.0001"),
        ("PUT", [], "IMG.0001"),
    ],
)
def test_batch_member_refusals(server: Server, method: str, body: Any, code: str) -> None:
    ims_error(server.client("p1").request(method, "/v1/cloudimages/members", json=body), 400, code)


# --- on S3: the image store and the object storage both S3 ----------------------------------
@pytest.fixture(scope="module")
def s3_both(database: str, s3_server: S3Server) -> Iterator[InProcessServer]:
    """An in-process server on the module's database keeping its images on the session's S3
    server, whose object storage is that S3 service too (no local file of an image: an export
    fetches the bytes to its scratch directory first; a copy is CopyObject)."""
    env = s3_server.env(f"export-copy-{uuid.uuid4().hex[:8]}")
    settings = {
        "OPENIMS_IMAGE_STORE": env.pop("OPENIMS_IMAGE_STORE"),
        "OPENIMS_OBS": f"s3://?endpoint={s3_server.endpoint}&region={s3_server.region}",
        **QUIET,
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the credentials come from the environment when the app starts
    try:
        server = start_in_process(database, settings)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    yield server
    server.stop()


def test_export_and_copy_on_s3(
    s3_both: InProcessServer, s3_server: S3Server, qcow2: bytes, tmp_path: Path
) -> None:
    databases.empty(s3_both.database_url)
    c = s3_both.client()
    image_id = image_with(c, qcow2)
    key = f"exports/{uuid.uuid4()}/disk.vhd"
    r = c.post(
        f"/v1/cloudimages/{image_id}/file",
        json={"bucket_url": f"{s3_server.bucket}:{key}", "file_format": "vhd"},
    )
    assert wait(c, submitted(r))["status"] == "SUCCESS"
    s3 = get_session().create_client(
        "s3",
        endpoint_url=s3_server.endpoint,
        region_name=s3_server.region,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key,
    )
    exported = tmp_path / "disk.vhd"
    exported.write_bytes(s3.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read())  # type: ignore[attr-defined]
    assert qemu_info(exported, "vpc")["virtual-size"] == VIRTUAL_SIZE
    ims_error(
        c.post(
            f"/v1/cloudimages/{image_id}/file",
            json={"bucket_url": f"{s3_server.bucket}:{key}", "file_format": "vhd"},
        ),
        400,
        "IMG.0070",
    )

    job = wait(c, submitted(c.post(f"/v1/cloudimages/{image_id}/copy", json={"name": "c"})))
    assert job["status"] == "SUCCESS", job
    assert c.get(f"/v2/images/{job['entities']['image_id']}/file").content == qcow2
    s3_both.close_clients()
