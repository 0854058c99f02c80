"""Exporting, copying and the batch member calls through the official SDK (`huaweicloudsdkims`
`ImsClient`, AK/SK) against a server process with authentication on and a directory of buckets
as its object storage: each operation's parsed response model, and `show_job` polled to the
job's end (docs/ims-export-copy.md)."""

from __future__ import annotations

import atexit
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkims.v2 import (
    BatchAddMembersRequest,
    BatchAddMembersRequestBody,
    BatchDeleteMembersRequest,
    BatchUpdateMembersRequest,
    BatchUpdateMembersRequestBody,
    CopyImageCrossRegionRequest,
    CopyImageCrossRegionRequestBody,
    CopyImageInRegionInSafeModeRequest,
    CopyImageInRegionRequest,
    CopyImageInRegionRequestBody,
    ExportImageInSafeModeRequest,
    ExportImageRequest,
    ExportImageRequestBody,
    GlanceListImageMembersRequest,
    GlanceShowImageRequest,
    ImsClient,
    ShowJobRequest,
    ShowJobResponse,
)

from tests.support import databases
from tests.support.servers import AuthServer, start_server

pytestmark = [
    pytest.mark.clients,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # the SDK's glance_* methods
]

OBS = Path(tempfile.mkdtemp(prefix="openims-obs-clients-"))
atexit.register(shutil.rmtree, OBS, True)
BUCKET = "sdk-exports"


@pytest.fixture(scope="module", params=databases.BACKENDS)
def auth_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuthServer]:
    """A server process on a database of its own: every server of the session on one database
    claims jobs of the types it knows, and another module's server, with another object
    storage, must not run these tests' jobs."""
    directory = tmp_path_factory.mktemp("export-sdk")
    with ExitStack() as stack:
        if request.param == "postgres":
            url = stack.enter_context(databases.postgres_database())
        else:
            url = databases.sqlite_database(directory)
        server = start_server(url, directory, auth=True, env={"OPENIMS_OBS": str(OBS)})
        stack.callback(server.stop)
        yield server


DISK = 32 << 20


def ims(srv: AuthServer, who: str) -> ImsClient:
    key = srv.keys[who]
    credentials = BasicCredentials(key.access_key, key.secret_key, key.project_id)
    return ImsClient.new_builder().with_credentials(credentials).with_endpoint(srv.url).build()


@pytest.fixture(scope="module")
def qcow2(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    directory = tmp_path_factory.mktemp("disk")
    image = directory / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), str(DISK)], check=True)
    return image.read_bytes()


def uploaded(srv: AuthServer, who: str, data: bytes, name: str = "source") -> str:
    c = srv.client(who)
    r = c.post(
        "/v2/images", json={"name": name, "disk_format": "qcow2", "container_format": "bare"}
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


def ended(sdk: ImsClient, job_id: str) -> ShowJobResponse:
    """`show_job` polled until the job ends."""
    deadline = time.monotonic() + 60
    while True:
        job = sdk.show_job(ShowJobRequest(job_id=job_id))
        if job.status in ("SUCCESS", "FAIL"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


@pytest.fixture
def bucket() -> Path:
    path = OBS / BUCKET
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def test_export_image_and_in_safe_mode(auth_server: AuthServer, qcow2: bytes, bucket: Path) -> None:
    sdk = ims(auth_server, "t1")
    image_id = uploaded(auth_server, "t1", qcow2)
    body = ExportImageRequestBody(bucket_url=f"{BUCKET}:disk.vhd", file_format="vhd")
    started = sdk.export_image(ExportImageRequest(image_id=image_id, body=body))
    job = ended(sdk, started.job_id)
    assert (job.status, job.job_type, job.job_id) == (
        "SUCCESS",
        "imsNativeExportImageJob",
        started.job_id,
    )
    assert job.entities.image_id == image_id and job.error_code is None
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "-f", "vpc", "--output=json", str(bucket / "disk.vhd")],
            check=True,
            capture_output=True,
        ).stdout
    )
    assert info["virtual-size"] == DISK

    quick = ExportImageRequestBody(bucket_url=f"{BUCKET}:as-stored.qcow2", is_quick_export=True)
    started = sdk.export_image_in_safe_mode(
        ExportImageInSafeModeRequest(image_id=image_id, body=quick)
    )
    assert ended(sdk, started.job_id).status == "SUCCESS"
    assert (bucket / "as-stored.qcow2").read_bytes() == qcow2

    with pytest.raises(ClientRequestException) as refused:
        sdk.export_image(
            ExportImageRequest(
                image_id=image_id,
                body=ExportImageRequestBody(bucket_url=f"{BUCKET}:x.zvhd", file_format="zvhd"),
            )
        )
    assert (refused.value.status_code, refused.value.error_code) == (400, "IMG.0072")


def test_copy_image_in_region_and_in_safe_mode(auth_server: AuthServer, qcow2: bytes) -> None:
    sdk = ims(auth_server, "t1")
    source_id = uploaded(auth_server, "t1", qcow2)
    started = sdk.copy_image_in_region(
        CopyImageInRegionRequest(
            image_id=source_id,
            body=CopyImageInRegionRequestBody(name="copy-1", description="a copy"),
        )
    )
    job = ended(sdk, started.job_id)
    assert (job.status, job.job_type) == ("SUCCESS", "imsCopyImageInRegionJob")
    assert job.entities.image_name == "copy-1"
    copy = sdk.glance_show_image(GlanceShowImageRequest(image_id=job.entities.image_id))
    source = sdk.glance_show_image(GlanceShowImageRequest(image_id=source_id))
    assert (copy.name, copy.status, copy.checksum, copy.size) == (
        "copy-1",
        "active",
        source.checksum,
        source.size,
    )
    download = auth_server.client("t1").get(f"/v2/images/{copy.id}/file")
    assert download.content == qcow2

    started = sdk.copy_image_in_region_in_safe_mode(
        CopyImageInRegionInSafeModeRequest(
            image_id=source_id, body=CopyImageInRegionRequestBody(name="copy-2")
        )
    )
    assert ended(sdk, started.job_id).status == "SUCCESS"


def test_copy_image_cross_region_is_refused(auth_server: AuthServer, qcow2: bytes) -> None:
    sdk = ims(auth_server, "t1")
    source_id = uploaded(auth_server, "t1", qcow2)
    body = CopyImageCrossRegionRequestBody(
        name="far", region="ap-southeast-1", project_name="ap-southeast-1", agency_name="ims"
    )
    with pytest.raises(ClientRequestException) as refused:
        sdk.copy_image_cross_region(CopyImageCrossRegionRequest(image_id=source_id, body=body))
    assert (refused.value.status_code, refused.value.error_code) == (400, "IMG.0108")
    body.region = "cn-north-4"  # this deployment's own region
    with pytest.raises(ClientRequestException) as refused:
        sdk.copy_image_cross_region(CopyImageCrossRegionRequest(image_id=source_id, body=body))
    assert (refused.value.status_code, refused.value.error_code) == (400, "IMG.0105")


def test_batch_members(auth_server: AuthServer) -> None:
    owner, member = ims(auth_server, "t1"), ims(auth_server, "t2")
    project = auth_server.project("t2")
    c = auth_server.client("t1")
    images = [c.post("/v2/images", json={"name": f"b{n}"}).json()["id"] for n in range(2)]

    started = owner.batch_add_members(
        BatchAddMembersRequest(body=BatchAddMembersRequestBody(images=images, projects=[project]))
    )
    job = ended(owner, started.job_id)
    assert (job.status, job.job_type) == ("SUCCESS", "imsAddImageMembersJob")
    assert [(r.image_id, r.project_id, r.status) for r in job.entities.results] == [
        (i, project, "success") for i in images
    ]
    listed = owner.glance_list_image_members(GlanceListImageMembersRequest(image_id=images[0]))
    assert [(m.member_id, m.status) for m in listed.members] == [(project, "pending")]

    started = member.batch_update_members(
        BatchUpdateMembersRequest(
            body=BatchUpdateMembersRequestBody(images=images, project_id=project, status="accepted")
        )
    )
    job = ended(member, started.job_id)
    assert (job.status, job.job_type) == ("SUCCESS", "imsUpdateImageMembersJob")
    listed = owner.glance_list_image_members(GlanceListImageMembersRequest(image_id=images[1]))
    assert [(m.member_id, m.status) for m in listed.members] == [(project, "accepted")]

    started = owner.batch_delete_members(
        BatchDeleteMembersRequest(
            body=BatchAddMembersRequestBody(images=images, projects=[project])
        )
    )
    job = ended(owner, started.job_id)
    assert (job.status, job.job_type) == ("SUCCESS", "imsDelImageMembersJob")
    listed = owner.glance_list_image_members(GlanceListImageMembersRequest(image_id=images[0]))
    assert listed.members == []

    with pytest.raises(ClientRequestException) as refused:
        owner.batch_add_members(
            BatchAddMembersRequest(
                body=BatchAddMembersRequestBody(images=images, projects=[project], domains=["d"])
            )
        )
    assert (refused.value.status_code, refused.value.error_code) == (400, "IMG.0105")
