"""The IMS creating calls through the official SDK (`huaweicloudsdkims` `ImsClient`, AK/SK)
against a server process with authentication on: `create_image`, `create_data_image`,
`import_image_quick`, their v2.1 "safe mode" forms, `register_image` and `create_whole_image`.
Each parsed response model is checked, and each job is polled with `show_job` to its end
(docs/ims-creating.md). Objects are files in the server's bucket directories (`OPENIMS_OBS`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkims.v2 import (
    CreateDataImageInSafeModeRequest,
    CreateDataImageRequest,
    CreateDataImageRequestBody,
    CreateImageInSafeModeRequest,
    CreateImageRequest,
    CreateImageRequestBody,
    CreateWholeImageRequest,
    CreateWholeImageRequestBody,
    GlanceCreateImageMetadataRequest,
    GlanceCreateImageMetadataRequestBody,
    GlanceShowImageRequest,
    ImportImageQuickInSafeModeRequest,
    ImportImageQuickRequest,
    ImsClient,
    QuickImportImageByFileRequestBody,
    RegisterImageRequest,
    RegisterImageRequestBody,
    ShowJobProgressRequest,
    ShowJobRequest,
    ShowJobResponse,
    TagKeyValue,
)

from tests.support.servers import AuthServer, obs_for
from tests.support.uploads import md5, qcow2, raw_bytes

pytestmark = [
    pytest.mark.clients,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # the SDK's glance_* methods
]


def ims(srv: AuthServer, who: str = "t1") -> ImsClient:
    key = srv.keys[who]
    credentials = BasicCredentials(key.access_key, key.secret_key, key.project_id)
    return ImsClient.new_builder().with_credentials(credentials).with_endpoint(srv.url).build()


def bucket_with(srv: AuthServer, files: dict[str, bytes]) -> str:
    """A new bucket in the object storage of the database's servers (`OPENIMS_OBS`)."""
    bucket = f"sdk-{uuid.uuid4().hex[:12]}"
    root = obs_for(srv.server.database_url) / bucket
    root.mkdir(parents=True)
    for key, data in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return bucket


def wait(sdk: ImsClient, job_id: str, timeout: float = 30) -> ShowJobResponse:
    """`show_job` until the job ended (polled every 50 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        job = sdk.show_job(ShowJobRequest(job_id=job_id))
        if job.status in ("SUCCESS", "FAIL"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return qcow2(tmp_path_factory.mktemp("sdk-disks") / "disk.qcow2", "1M")


def test_create_image_and_its_safe_mode(auth_server: AuthServer, disk: bytes) -> None:
    bucket = bucket_with(auth_server, {"os/disk.qcow2": disk})
    sdk = ims(auth_server)
    body = CreateImageRequestBody(
        name="sdk-created",
        description="from the SDK",
        image_url=f"{bucket}:os/disk.qcow2",
        os_version="CentOS 7.0 64bit",
        min_disk=40,
        image_tags=[TagKeyValue(key="team", value="core")],
    )
    for request in (CreateImageRequest(body=body), CreateImageInSafeModeRequest(body=body)):
        submitted = (
            sdk.create_image(request)
            if isinstance(request, CreateImageRequest)
            else sdk.create_image_in_safe_mode(request)
        )
        assert submitted.job_id and len(submitted.job_id) == 32
        job = wait(sdk, submitted.job_id)
        assert (job.status, job.job_type, job.error_code) == ("SUCCESS", "imsImportImageJob", None)
        assert job.begin_time and job.end_time
        image_id = job.entities.image_id
        progress = sdk.show_job_progress(ShowJobProgressRequest(job_id=submitted.job_id))
        assert progress.status == "SUCCESS"
        shown = sdk.glance_show_image(GlanceShowImageRequest(image_id=image_id))
        assert (shown.status, shown.name, shown.size) == ("active", "sdk-created", len(disk))
        assert shown.checksum == md5(disk)
        assert shown.os_version == "CentOS 7.0 64bit" and shown.platform == "CentOS"
        assert shown.tags == ["team=core"]


def test_data_image_and_quick_import(auth_server: AuthServer, disk: bytes) -> None:
    raw = raw_bytes(200_000)
    bucket = bucket_with(auth_server, {"data.qcow2": disk, "disk.raw": raw})
    sdk = ims(auth_server)
    data = CreateDataImageRequestBody(
        name="sdk-data", image_url=f"{bucket}:data.qcow2", min_disk=40
    )
    quick = QuickImportImageByFileRequestBody(
        name="sdk-quick",
        image_url=f"{bucket}:disk.raw",
        min_disk=1,
        os_version="CentOS 7.0 64bit",
        type="ECS",
    )
    calls: list[tuple[Callable[[], Any], str, bytes]] = [
        (
            lambda: sdk.create_data_image(CreateDataImageRequest(body=data)),
            "imsImportDataImageJob",
            disk,
        ),
        (
            lambda: sdk.create_data_image_in_safe_mode(CreateDataImageInSafeModeRequest(body=data)),
            "imsImportDataImageJob",
            disk,
        ),
        (
            lambda: sdk.import_image_quick(ImportImageQuickRequest(body=quick)),
            "imsImportImageJob",
            raw,
        ),
        (
            lambda: sdk.import_image_quick_in_safe_mode(
                ImportImageQuickInSafeModeRequest(body=quick)
            ),
            "imsImportImageJob",
            raw,
        ),
    ]
    for call, job_type, content in calls:  # one at a time: the submitting server runs each
        job = wait(sdk, call().job_id)
        assert (job.status, job.job_type) == ("SUCCESS", job_type), job
        shown = sdk.glance_show_image(GlanceShowImageRequest(image_id=job.entities.image_id))
        assert (shown.status, shown.size) == ("active", len(content))


def test_register_image(auth_server: AuthServer, disk: bytes) -> None:
    bucket = bucket_with(auth_server, {"reg.qcow2": disk})
    sdk = ims(auth_server)
    created = sdk.glance_create_image_metadata(
        GlanceCreateImageMetadataRequest(
            body=GlanceCreateImageMetadataRequestBody(
                name="sdk-register", disk_format="qcow2", container_format="bare", min_disk=40
            )
        )
    )
    # another tenant: the image does not exist for it
    with pytest.raises(ClientRequestException) as caught:
        ims(auth_server, "t2").register_image(
            RegisterImageRequest(
                image_id=created.id, body=RegisterImageRequestBody(image_url=f"{bucket}:reg.qcow2")
            )
        )
    assert (caught.value.status_code, caught.value.error_code) == (404, "IMG.0027")
    submitted = sdk.register_image(
        RegisterImageRequest(
            image_id=created.id, body=RegisterImageRequestBody(image_url=f"{bucket}:reg.qcow2")
        )
    )
    job = wait(sdk, submitted.job_id)
    assert (job.status, job.job_type, job.entities.image_id) == (
        "SUCCESS",
        "imsNativeImportImageJob",
        created.id,
    )
    shown = sdk.glance_show_image(GlanceShowImageRequest(image_id=created.id))
    assert (shown.status, shown.checksum) == ("active", md5(disk))


def test_refusals(auth_server: AuthServer, disk: bytes) -> None:
    bucket = bucket_with(auth_server, {"disk.qcow2": disk})
    sdk = ims(auth_server)
    cases: list[tuple[Callable[[], object], str]] = [
        (
            lambda: sdk.create_image(
                CreateImageRequest(
                    body=CreateImageRequestBody(
                        name="x", image_url=f"{bucket}:../../etc/passwd", min_disk=40
                    )
                )
            ),
            "IMG.0017",
        ),
        (
            lambda: sdk.create_image(
                CreateImageRequest(
                    body=CreateImageRequestBody(
                        name="x", image_url="gone-bucket:a.qcow2", min_disk=40
                    )
                )
            ),
            "IMG.0069",
        ),
        (
            lambda: sdk.create_image(
                CreateImageRequest(
                    body=CreateImageRequestBody(
                        name="x", instance_id="877a2cda-ba63-4e1e-b95f-e67e48b6129a"
                    )
                )
            ),
            "IMG.0005",
        ),
        (
            lambda: sdk.create_image_in_safe_mode(
                CreateImageInSafeModeRequest(
                    body=CreateImageRequestBody(
                        name="x", image_url=f"{bucket}:disk.qcow2", min_disk=40, os_version="OS/2"
                    )
                )
            ),
            "IMG.0056",
        ),
        (
            lambda: sdk.create_whole_image(
                CreateWholeImageRequest(
                    body=CreateWholeImageRequestBody(name="w", instance_id="i-1", vault_id="v")
                )
            ),
            "IMG.0005",
        ),
        (
            lambda: sdk.create_whole_image(
                CreateWholeImageRequest(
                    body=CreateWholeImageRequestBody(
                        name="w", backup_id="b-1", whole_image_type="CBR"
                    )
                )
            ),
            "IMG.0198",
        ),
    ]
    for call, code in cases:
        with pytest.raises(ClientRequestException) as caught:
            call()
        assert (caught.value.status_code, caught.value.error_code) == (400, code)
        assert caught.value.error_msg


def test_a_failed_job(auth_server: AuthServer, tmp_path: Path) -> None:
    backed = qcow2(tmp_path / "backed.qcow2", "1M", "-F", "raw", "-b", "/etc/passwd")
    bucket = bucket_with(auth_server, {"backed.qcow2": backed})
    sdk = ims(auth_server)
    submitted = sdk.create_image(
        CreateImageRequest(
            body=CreateImageRequestBody(name="bad", image_url=f"{bucket}:backed.qcow2", min_disk=40)
        )
    )
    job = wait(sdk, submitted.job_id)
    assert (job.status, job.error_code) == ("FAIL", "IMG.0057")
    assert "backing" in job.fail_reason
