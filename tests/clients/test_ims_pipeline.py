"""A user's pipeline, end to end, through the official IMS SDK (`ImsClient`, AK/SK) against a
server process in the production shape: image bytes and IMS object storage both on a real S3
service (SeaweedFS), each backend's database.

An S3 client puts a qcow2 into a bucket → `create_image` → `show_job` to SUCCESS → the image
is active with the object's size and checksum → `batch_add_or_delete_tags` →
`list_image_by_tags` finds it → `batch_add_members` to a second project → that project accepts
with `batch_update_members` and lists it with `member_status=accepted` → `export_image` as VHD
into the bucket → `qemu-img info` reads the exported object as VHD of the same virtual size →
`copy_image_in_region` → both images deleted."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import get_session
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkims.v2 import (
    BatchAddMembersRequest,
    BatchAddMembersRequestBody,
    BatchAddOrDeleteTagsRequest,
    BatchAddOrDeleteTagsRequestBody,
    BatchUpdateMembersRequest,
    BatchUpdateMembersRequestBody,
    CopyImageInRegionRequest,
    CopyImageInRegionRequestBody,
    CreateImageRequest,
    CreateImageRequestBody,
    ExportImageRequest,
    ExportImageRequestBody,
    GlanceDeleteImageRequest,
    GlanceDeleteImageRequestBody,
    GlanceShowImageRequest,
    ImsClient,
    ListImageByTagsRequest,
    ListImageByTagsRequestBody,
    ListImagesRequest,
    ResourceTag,
    ShowJobRequest,
    ShowJobResponse,
    Tags,
)

from tests.support.fixtures import shared_server
from tests.support.seaweed import S3Server
from tests.support.servers import AuthServer

pytestmark = [
    pytest.mark.clients,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # the SDK's glance_* methods
]

VIRTUAL_SIZE = 64 * 2**20


@pytest.fixture
def s3_auth_server(
    backend: str, request: pytest.FixtureRequest, s3_server: S3Server
) -> Iterator[AuthServer]:
    """An authenticated `openims serve` keeping its image bytes and its IMS object storage on
    the session's S3 service."""
    env = s3_server.env(f"pipeline-{backend}")
    env["OPENIMS_OBS"] = f"s3://?endpoint={s3_server.endpoint}&region={s3_server.region}"
    server = shared_server(request, backend, auth=True, env=env)
    assert isinstance(server, AuthServer)
    yield server
    server.close_clients()


def ims(srv: AuthServer, who: str) -> ImsClient:
    key = srv.keys[who]
    credentials = BasicCredentials(key.access_key, key.secret_key, key.project_id)
    return ImsClient.new_builder().with_credentials(credentials).with_endpoint(srv.url).build()


def s3_call(s3: S3Server, method: str, **kwargs: Any) -> Any:
    """One call of an ordinary S3 client (aiobotocore), as a user's tool would make it."""

    async def call() -> Any:
        async with get_session().create_client(
            "s3",
            endpoint_url=s3.endpoint,
            region_name=s3.region,
            aws_access_key_id=s3.access_key,
            aws_secret_access_key=s3.secret_key,
        ) as client:
            answer = await getattr(client, method)(**kwargs)
            if "Body" in answer:
                async with answer["Body"] as body:
                    return await body.read()
            return answer

    return asyncio.run(call())


def finished(sdk: ImsClient, job_id: str, timeout: float = 60) -> ShowJobResponse:
    deadline = time.monotonic() + timeout
    while True:
        job = sdk.show_job(ShowJobRequest(job_id=job_id))
        if job.status in ("SUCCESS", "FAIL"):
            assert job.status == "SUCCESS", (job.error_code, job.fail_reason)
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def test_a_pipeline_from_a_bucket_to_an_exported_copy(
    s3_auth_server: AuthServer, s3_server: S3Server, tmp_path: Path
) -> None:
    srv = s3_auth_server
    owner, member = ims(srv, "t1"), ims(srv, "t2")
    member_project = srv.project("t2")

    # a qcow2 into a bucket, with an S3 client
    disk = tmp_path / "disk.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", str(disk), str(VIRTUAL_SIZE)], check=True
    )
    data = disk.read_bytes()
    bucket = f"pipeline-{uuid.uuid4().hex[:12]}"
    s3_call(s3_server, "create_bucket", Bucket=bucket)
    s3_call(s3_server, "put_object", Bucket=bucket, Key="images/disk.qcow2", Body=data)

    # create_image → show_job → an active image of those bytes
    submitted = owner.create_image(
        CreateImageRequest(
            body=CreateImageRequestBody(
                name="pipeline",
                image_url=f"{bucket}:images/disk.qcow2",
                os_version="CentOS 7.0 64bit",
                min_disk=40,
            )
        )
    )
    image_id = finished(owner, submitted.job_id).entities.image_id
    shown = owner.glance_show_image(GlanceShowImageRequest(image_id=image_id))
    assert (shown.status, shown.size, shown.disk_format) == ("active", len(data), "qcow2")
    assert shown.checksum == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert shown.virtual_size == VIRTUAL_SIZE

    # tags, and the tag query finds it
    owner.batch_add_or_delete_tags(
        BatchAddOrDeleteTagsRequest(
            image_id=image_id,
            body=BatchAddOrDeleteTagsRequestBody(
                action="create", tags=[ResourceTag(key="pipeline", value="yes")]
            ),
        )
    )
    found = owner.list_image_by_tags(
        ListImageByTagsRequest(
            body=ListImageByTagsRequestBody(
                action="filter", tags=[Tags(key="pipeline", values=["yes"])]
            )
        )
    )
    assert [r.resource_id for r in found.resources] == [image_id]

    # shared with a second project, which accepts it and lists it
    added = owner.batch_add_members(
        BatchAddMembersRequest(
            body=BatchAddMembersRequestBody(images=[image_id], projects=[member_project])
        )
    )
    finished(owner, added.job_id)
    accepted = member.batch_update_members(
        BatchUpdateMembersRequest(
            body=BatchUpdateMembersRequestBody(
                images=[image_id], project_id=member_project, status="accepted"
            )
        )
    )
    finished(member, accepted.job_id)
    listed = member.list_images(ListImagesRequest(member_status="accepted", visibility="shared"))
    assert image_id in [i.id for i in listed.images]

    # exported as VHD into the bucket: a valid VHD of the same virtual size
    exported = owner.export_image(
        ExportImageRequest(
            image_id=image_id,
            body=ExportImageRequestBody(bucket_url=f"{bucket}:out/disk.vhd", file_format="vhd"),
        )
    )
    finished(owner, exported.job_id)
    vhd = tmp_path / "disk.vhd"
    vhd.write_bytes(s3_call(s3_server, "get_object", Bucket=bucket, Key="out/disk.vhd"))
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", "-f", "vpc", str(vhd)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert (info["format"], info["virtual-size"]) == ("vpc", VIRTUAL_SIZE)

    # copied in the region: the same bytes under a new image
    copied = owner.copy_image_in_region(
        CopyImageInRegionRequest(
            image_id=image_id, body=CopyImageInRegionRequestBody(name="pipeline copy")
        )
    )
    copy_id = finished(owner, copied.job_id).entities.image_id
    copy = owner.glance_show_image(GlanceShowImageRequest(image_id=copy_id))
    assert copy_id != image_id
    assert (copy.status, copy.size, copy.checksum) == ("active", shown.size, shown.checksum)

    # and both deleted
    for gone in (image_id, copy_id):
        owner.glance_delete_image(
            GlanceDeleteImageRequest(image_id=gone, body=GlanceDeleteImageRequestBody())
        )
    assert not owner.list_images(ListImagesRequest(id=image_id)).images
    assert not owner.list_images(ListImagesRequest(id=copy_id)).images
