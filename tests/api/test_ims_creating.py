"""The IMS creating calls over HTTP, on SQLite and PostgreSQL (docs/ims-creating.md):
`create_image`, `create_data_image`, `import_image_quick` (and their v2.1 forms) and
`register_image` answer a job id at once and the job fills the image from the object storage;
every refusal is IMS's, at once or as the job's failure, and leaves nothing behind.

Objects are put as a user would: files in the in-process server's bucket directories, and in
one test an S3 client's PUT to the session's SeaweedFS (`OPENIMS_OBS=s3://…`)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiobotocore.session import get_session

from openims import errors
from openims.domain import documents
from openims.domain.access import Caller
from openims.service.image_data import SYSTEM
from tests.support.databases import postgres_database, sqlite_database
from tests.support.fixtures import server_fixture
from tests.support.in_process import start_in_process
from tests.support.jobs import wait_for_job
from tests.support.seaweed import S3Server
from tests.support.servers import Server
from tests.support.uploads import create, md5, qcow2, raw_bytes

server = server_fixture("server", in_process=True)

OWNER = "p-create"
OTHER = "p-other"


def client(server: Server, project: str = OWNER) -> httpx.Client:
    return server.connect({"X-Project-Id": project})


def obs_root(server: Server) -> Path:
    root: Path = server.app.state.services.obs.root  # type: ignore[attr-defined]
    return root


def bucket_with(server: Server, files: dict[str, bytes]) -> str:
    """A new bucket (directory) of the server's object storage holding `files`."""
    bucket = f"bkt-{uuid.uuid4().hex[:12]}"
    for key, data in files.items():
        path = obs_root(server) / bucket / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (obs_root(server) / bucket).mkdir(parents=True, exist_ok=True)
    return bucket


def ims_error(r: httpx.Response, code: str, status: int = 400) -> str:
    """IMS's error format: `{"error": {"message", "code"}}`, no Glance title."""
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "code"}, err
    assert err["code"] == code, err
    return str(err["message"])


def job_of(r: httpx.Response) -> str:
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"job_id"}, body
    return str(body["job_id"])


def images(c: httpx.Client) -> list[dict[str, Any]]:
    r = c.get("/v2/images")
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["images"]
    return found


def blobs(server: Server) -> list[str]:
    root = Path(server.app.state.settings.image_store.removeprefix("file://"))  # type: ignore[attr-defined]
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def downloaded(c: httpx.Client, image_id: str) -> bytes:
    r = c.get(f"/v2/images/{image_id}/file")
    assert r.status_code == 200, r.text
    return r.content


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return qcow2(tmp_path_factory.mktemp("disks") / "disk.qcow2", "2M")


@pytest.fixture(scope="module")
def backed(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return qcow2(
        tmp_path_factory.mktemp("disks") / "backed.qcow2", "1M", "-F", "raw", "-b", "/etc/passwd"
    )


def test_create_image_from_a_file(server: Server, disk: bytes) -> None:
    bucket = bucket_with(server, {"dir/centos.qcow2": disk})
    c = client(server)
    body = {
        "name": "from-obs",
        "description": "Created from a file",
        "image_url": f"{bucket}:dir/centos.qcow2",
        "os_version": "CentOS 7.0 64bit",
        "min_disk": 40,
        "min_ram": 1024,
        "max_ram": 8192,
        "image_tags": [{"key": "env", "value": "prod"}],
    }
    job_id = job_of(c.post("/v2/cloudimages/action", json=body))
    image_id = c.get(f"/v1/{OWNER}/jobs/{job_id}").json()["entities"]["image_id"]
    assert c.get(f"/v2/images/{image_id}").status_code == 200  # exists from submit
    job = wait_for_job(c, job_id)
    assert job["status"] == "SUCCESS", job
    assert job["job_type"] == "imsImportImageJob"
    assert job["entities"]["image_id"] == image_id
    doc = c.get(f"/v2/images/{image_id}").json()
    assert doc["status"] == "active"
    assert doc["owner"] == OWNER and doc["visibility"] == "private"
    assert doc["size"] == len(disk) and doc["__image_size"] == str(len(disk))
    assert doc["checksum"] == md5(disk)
    assert doc["os_hash_value"] == hashlib.sha512(disk).hexdigest()
    assert doc["virtual_size"] == 2 * 1024 * 1024
    assert doc["disk_format"] == "qcow2" and doc["container_format"] == "bare"
    assert doc["__os_version"] == "CentOS 7.0 64bit"
    assert (doc["__platform"], doc["__os_type"], doc["__os_bit"]) == ("CentOS", "Linux", "64")
    assert doc["__support_kvm"] == "true" and doc["virtual_env_type"] == "FusionCompute"
    assert (doc["min_disk"], doc["min_ram"], doc["max_ram"]) == (40, 1024, "8192")
    assert doc["__description"] == "Created from a file"
    assert doc["tags"] == ["env=prod"]
    assert doc["__data_origin"] == f"file,{bucket}:dir/centos.qcow2"
    assert doc["__imagetype"] == "private" and doc["__isregistered"] == "true"
    assert downloaded(c, image_id) == disk
    listed = c.get("/v2/cloudimages", params={"id": image_id}).json()["images"]
    assert [i["status"] for i in listed] == ["active"]


def test_the_other_creating_calls(server: Server, disk: bytes) -> None:
    raw = raw_bytes(300_000)
    bucket = bucket_with(server, {"data.qcow2": disk, "sys.raw": raw})
    c = client(server)
    calls = [
        (
            "/v1/cloudimages/dataimages/action",
            {"name": "data", "image_url": f"{bucket}:data.qcow2", "min_disk": 40},
            "imsImportDataImageJob",
            disk,
        ),
        (
            "/v2.1/cloudimages/dataimages/action",
            {"name": "data21", "image_url": f"{bucket}:data.qcow2", "min_disk": 40},
            "imsImportDataImageJob",
            disk,
        ),
        (
            "/v2.1/cloudimages/action",
            {"name": "safe", "image_url": f"{bucket}:data.qcow2", "min_disk": 40},
            "imsImportImageJob",
            disk,
        ),
        (
            "/v2/cloudimages/quickimport/action",
            {
                "name": "quick",
                "image_url": f"{bucket}:sys.raw",
                "min_disk": 1,
                "os_version": "CentOS 7.0 64bit",
            },
            "imsImportImageJob",
            raw,
        ),
        (
            "/v2.1/cloudimages/quickimport/action",
            {
                "name": "quick-data",
                "image_url": f"{bucket}:sys.raw",
                "min_disk": 1,
                "type": "DataImage",
            },
            "imsImportDataImageJob",
            raw,
        ),
    ]
    for path, body, job_type, data in calls:  # one at a time: this server's workers run each
        job = wait_for_job(c, job_of(c.post(path, json=body)))
        assert (job["status"], job["job_type"]) == ("SUCCESS", job_type), job
        doc = c.get(f"/v2/images/{job['entities']['image_id']}").json()
        assert doc["status"] == "active" and doc["size"] == len(data)
        if job_type == "imsImportDataImageJob":
            assert doc["virtual_env_type"] == "DataImage" and doc["__os_type"] == "Linux"


def test_register_image(server: Server, disk: bytes) -> None:
    bucket = bucket_with(server, {"reg.qcow2": disk})
    owner, other = client(server), client(server, OTHER)
    queued = create(owner, name="to-register", disk_format="qcow2")
    path = f"/v1/cloudimages/{queued['id']}/upload"
    # another project: the image does not exist for it, and nothing changes
    ims_error(other.put(path, json={"image_url": f"{bucket}:reg.qcow2"}), "IMG.0027", 404)
    # a project it is shared with sees it but may not fill it
    owner.patch(
        f"/v2/images/{queued['id']}",
        json=[{"op": "replace", "path": "/visibility", "value": "shared"}],
        headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
    )
    assert owner.post(f"/v2/images/{queued['id']}/members", json={"member": OTHER}).is_success
    ims_error(other.put(path, json={"image_url": f"{bucket}:reg.qcow2"}), "IMG.0047", 403)
    ims_error(owner.put(path, json={"image_url": f"{bucket}:missing.qcow2"}), "IMG.0057")
    job_id = job_of(owner.put(path, json={"image_url": f"{bucket}:reg.qcow2"}))
    job = wait_for_job(owner, job_id)
    assert (job["status"], job["job_type"]) == ("SUCCESS", "imsNativeImportImageJob"), job
    doc = owner.get(f"/v2/images/{queued['id']}").json()
    assert doc["status"] == "active" and doc["checksum"] == md5(disk)
    # an active image is not registered again
    r = owner.put(path, json={"image_url": f"{bucket}:reg.qcow2"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "IMG.0310", r.text


def test_a_refused_file_fails_the_job_and_leaves_nothing(
    server: Server, backed: bytes, disk: bytes
) -> None:
    bucket = bucket_with(server, {"backed.qcow2": backed, "liar.vhd": disk})
    c = client(server)
    before = blobs(server)
    for key, words in (("backed.qcow2", "backing"), ("liar.vhd", "vhd")):
        body = {"name": "bad", "image_url": f"{bucket}:{key}", "min_disk": 40}
        job = wait_for_job(c, job_of(c.post("/v2/cloudimages/action", json=body)))
        assert job["status"] == "FAIL" and job["error_code"] == "IMG.0057", job
        assert words in job["fail_reason"], job
        image_id = job["entities"]["image_id"]
        assert c.get(f"/v2/images/{image_id}").status_code == 404  # removed
    assert images(c) == []
    assert blobs(server) == before
    # a registration that fails puts the image back to queued
    queued = create(c, name="reg", disk_format="qcow2")
    path = f"/v1/cloudimages/{queued['id']}/upload"
    job = wait_for_job(c, job_of(c.put(path, json={"image_url": f"{bucket}:backed.qcow2"})))
    assert (job["status"], job["error_code"]) == ("FAIL", "IMG.0057"), job
    assert c.get(f"/v2/images/{queued['id']}").json()["status"] == "queued"


GOOD = {"name": "x", "min_disk": 40}
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("/v2/cloudimages/action", {**GOOD, "image_url": "{b}:../../etc/passwd"}, "IMG.0017"),
    ("/v2/cloudimages/action", {**GOOD, "image_url": "{b}:/etc/passwd"}, "IMG.0017"),
    ("/v2/cloudimages/action", {**GOOD, "image_url": "../..:etc/passwd"}, "IMG.0109"),
    ("/v2/cloudimages/action", {**GOOD, "image_url": "{b}:a\\..\\b.qcow2"}, "IMG.0017"),
    ("/v2/cloudimages/action", {**GOOD, "image_url": "no-such-bucket-x:f.qcow2"}, "IMG.0069"),
    ("/v2/cloudimages/action", {**GOOD, "image_url": "{b}:missing.qcow2"}, "IMG.0057"),
    ("/v2/cloudimages/action", {**GOOD, "image_url": "{b}:empty.qcow2"}, "IMG.0057"),
    ("/v2/cloudimages/action", {**GOOD, "image_url": "{b}:disk.exe"}, "IMG.0057"),
    (
        "/v2/cloudimages/action",
        {**GOOD, "image_url": "{b}:disk.qcow2", "os_version": "DOS 6"},
        "IMG.0056",
    ),
    (
        "/v2/cloudimages/action",
        {**GOOD, "instance_id": "877a2cda-ba63-4e1e-b95f-e67e48b6129a"},
        "IMG.0005",
    ),
    ("/v2/cloudimages/action", {"data_images": [{"name": "d", "volume_id": "v-1"}]}, "IMG.0120"),
    (
        "/v2.1/cloudimages/action",
        {**GOOD, "image_url": "{b}:disk.qcow2", "cmk_id": "k"},
        "IMG.0095",
    ),
    ("/v2.1/cloudimages/action", {"name": "x", "instance_id": "i-1"}, "IMG.0005"),
    ("/v1/cloudimages/dataimages/action", {**GOOD, "image_url": "{b}:nope.vhd"}, "IMG.0057"),
    ("/v2.1/cloudimages/dataimages/action", {**GOOD, "image_url": ":x.vhd"}, "IMG.0068"),
    ("/v2/cloudimages/quickimport/action", {**GOOD, "image_url": "{b}:disk.qcow2"}, "IMG.0057"),
    ("/v2.1/cloudimages/quickimport/action", {**GOOD, "image_url": "{b}:d.raw"}, "IMG.0056"),
    ("/v1/cloudimages/wholeimages/action", {"name": "w", "instance_id": "i-1"}, "IMG.0005"),
    ("/v1/cloudimages/wholeimages/action", {"name": "w", "backup_id": "b-1"}, "IMG.0020"),
]


def test_refusals_at_once_change_nothing(server: Server, disk: bytes) -> None:
    bucket = bucket_with(server, {"disk.qcow2": disk, "empty.qcow2": b""})
    c = client(server)
    for path, body, code in REFUSED:
        if "image_url" in body:
            body = {**body, "image_url": body["image_url"].replace("{b}", bucket)}
        ims_error(c.post(path, json=body), code)
    ims_error(c.post("/v2.1/cloudimages/action", content=b"[1]"), "IMG.0001")
    assert images(c) == []
    r = c.get(f"/v1/{OWNER}/jobs/{'0' * 32}")
    assert r.status_code == 404


# --- the S3 form: objects put with an S3 client into a SeaweedFS bucket ----------------------
@pytest.fixture
def s3_obs_server(backend: str, tmp_path: Path, s3_server: S3Server) -> Iterator[Server]:
    """An in-process server whose object storage is the session's SeaweedFS, on a database of
    its own: a server of the shared database would claim the other tests' jobs too, and find
    none of their buckets there."""
    env = {"OPENIMS_OBS": f"s3://?endpoint={s3_server.endpoint}&region={s3_server.region}"}
    keys = {
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
    }
    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            url = sqlite_database(tmp_path)
        else:
            url = stack.enter_context(postgres_database())
        saved = {k: os.environ.get(k) for k in keys}
        os.environ.update(keys)  # an in-process server reads the credentials as it starts
        try:
            served = start_in_process(url, env)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        stack.callback(served.stop)
        yield served


def test_create_image_from_an_s3_bucket(
    s3_obs_server: Server, s3_server: S3Server, disk: bytes
) -> None:
    bucket = f"obs-{uuid.uuid4().hex[:12]}"

    async def put() -> None:
        async with get_session().create_client(
            "s3",
            endpoint_url=s3_server.endpoint,
            region_name=s3_server.region,
            aws_access_key_id=s3_server.access_key,
            aws_secret_access_key=s3_server.secret_key,
        ) as s3:
            await s3.create_bucket(Bucket=bucket)
            await s3.put_object(Bucket=bucket, Key="images/disk.qcow2", Body=disk)

    asyncio.run(put())
    c = client(s3_obs_server)
    ims_error(
        c.post("/v2/cloudimages/action", json={**GOOD, "image_url": f"{bucket}:images/nope.qcow2"}),
        "IMG.0057",
    )
    ims_error(
        c.post("/v2/cloudimages/action", json={**GOOD, "image_url": f"{bucket}-none:disk.qcow2"}),
        "IMG.0069",
    )
    body = {**GOOD, "image_url": f"{bucket}:images/disk.qcow2", "os_version": "CentOS 7.0 64bit"}
    job = wait_for_job(c, job_of(c.post("/v2/cloudimages/action", json=body)))
    assert job["status"] == "SUCCESS", job
    doc = c.get(f"/v2/images/{job['entities']['image_id']}").json()
    assert doc["status"] == "active" and doc["checksum"] == md5(disk)
    assert downloaded(c, doc["id"]) == disk


# --- re-runs: the jobs foundation may run a handler again from the start after a crash -------
class Rerun:
    """What a handler sees of its job (`service.jobs.JobRun`): params and which attempt."""

    def __init__(self, params: dict[str, Any], attempt: int) -> None:
        self.job_id = "0" * 32
        self.params = params
        self.attempt = attempt

    async def progress(self, fraction: float, **entities: Any) -> None:
        return None


def test_a_rerun_takes_over_what_a_dead_run_left(server: Server, disk: bytes) -> None:
    bucket = bucket_with(server, {"disk.qcow2": disk})
    services = server.app.state.services  # type: ignore[attr-defined]
    portal = server.transport.portal  # type: ignore[attr-defined]
    c = client(server)
    image_id = create(c, name="half-done", disk_format="qcow2")["id"]
    params = {"image_id": image_id, "image_url": f"{bucket}:disk.qcow2"}

    async def die_half_way() -> None:  # what a run killed while the bytes streamed leaves
        async with services.store.image_for_update(image_id, SYSTEM) as tx:
            await tx.save(documents.canonical({**tx.doc, "status": "saving"}, stored=True))
            await tx.begin_upload("a-dead-run", "images", "queued", time.time())

    portal.call(die_half_way)
    # a first run finding someone else's upload touches neither it nor the image (a creating
    # job does not remove an image it finds in other hands)
    for handler in (services.creation.run_register, services.creation.run_import):
        with pytest.raises(errors.ApiError) as caught:
            portal.call(handler, Rerun(params, 1))
        assert caught.value.spec is errors.STATUS_TRANSITION
        assert c.get(f"/v2/images/{image_id}").json()["status"] == "saving"
    # a re-run takes the dead run's upload over and finishes the image
    assert portal.call(services.creation.run_register, Rerun(params, 2)) == {"image_id": image_id}
    doc = c.get(f"/v2/images/{image_id}").json()
    assert (doc["status"], doc["checksum"]) == ("active", md5(disk))
    # a run after the image was finished (the job's end was not recorded) changes nothing
    assert portal.call(services.creation.run_register, Rerun(params, 3)) == {"image_id": image_id}
    assert c.get(f"/v2/images/{image_id}").json() == doc
    assert downloaded(c, image_id) == disk


def test_an_object_gone_before_the_job_ran_fails_it(server: Server, disk: bytes) -> None:
    """The object (or its bucket) removed between the submit and the job: the job fails with
    IMS's code and the image it made is removed."""
    bucket = bucket_with(server, {})
    services = server.app.state.services  # type: ignore[attr-defined]
    portal = server.transport.portal  # type: ignore[attr-defined]
    c = client(server)
    for url, code in ((f"{bucket}:gone.qcow2", "IMG.0057"), ("gone-bucket:x.qcow2", "IMG.0069")):
        image_id = create(c, name="made", disk_format="qcow2")["id"]
        params = {"image_id": image_id, "image_url": url, "new_image": True}
        with pytest.raises(errors.ApiError) as caught:
            portal.call(services.creation.run_import, Rerun(params, 1))
        assert caught.value.code == code
        assert c.get(f"/v2/images/{image_id}").status_code == 404


def test_the_project_quota_is_checked_at_once(server: Server, disk: bytes) -> None:
    """IMS's IMG.0015 before any job: no room for one more image, or for the file's bytes
    (the operator's per-project limits, docs/quotas.md); nothing is created."""
    bucket = bucket_with(server, {"disk.qcow2": disk})
    services = server.app.state.services  # type: ignore[attr-defined]
    portal = server.transport.portal  # type: ignore[attr-defined]
    project = f"p-quota-{uuid.uuid4().hex[:8]}"
    c = client(server, project)
    queued = create(c, name="queued", disk_format="qcow2")
    body = {**GOOD, "image_url": f"{bucket}:disk.qcow2"}

    async def limit(images: int | None, size: int | None) -> None:
        await services.quotas.set(project, images=images, size=size)

    portal.call(limit, 1, None)  # the queued image fills the project's image quota
    ims_error(c.post("/v2/cloudimages/action", json=body), "IMG.0015")
    portal.call(limit, 10, len(disk) - 1)  # room for images, not for the file's bytes
    ims_error(c.post("/v1/cloudimages/dataimages/action", json=body), "IMG.0015")
    path = f"/v1/cloudimages/{queued['id']}/upload"
    ims_error(c.put(path, json={"image_url": f"{bucket}:disk.qcow2"}), "IMG.0015")
    assert [i["id"] for i in images(c)] == [queued["id"]]
    portal.call(services.quotas.unset, project)  # the defaults again
    job = wait_for_job(c, job_of(c.put(path, json={"image_url": f"{bucket}:disk.qcow2"})))
    assert job["status"] == "SUCCESS", job


def test_the_new_image_and_its_job_commit_together(
    server: Server, disk: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process dying after the new image was committed but before its job was would leave
    a queued image that no job ever fills: the two are written in one transaction. When the
    job is written, the image is not yet visible to any other connection, and a failure
    there (the process dying) leaves neither."""
    bucket = bucket_with(server, {"disk.qcow2": disk})
    services = server.app.state.services  # type: ignore[attr-defined]
    portal = server.transport.portal  # type: ignore[attr-defined]
    seen: list[object] = []

    async def dies_writing_the_job(job: Any, *, within: Any = None) -> None:
        assert within is not None
        seen.append(await services.store.load(job.entities["image_id"], SYSTEM))
        raise ConnectionResetError("the process died here")

    monkeypatch.setattr(services.jobs.store, "insert", dies_writing_the_job)
    body = {
        "name": "never-half-made",
        "image_url": f"{bucket}:disk.qcow2",
        "os_version": "CentOS 7.0 64bit",
        "min_disk": 40,
    }
    with pytest.raises(ConnectionResetError):
        portal.call(services.creation.create_image, Caller(OWNER), body)
    assert seen == [None]
    assert not [i for i in images(client(server)) if i["name"] == "never-half-made"]
