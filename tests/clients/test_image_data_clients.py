"""Image data through the real clients, unchanged, against a server with authentication on:
python-glanceclient (`images.upload`, `images.data`, and the `glance` command's
`image-create --file` / `image-download`), openstacksdk (`create_image(filename=...)` in the
cloud layer and the image proxy, `download_image`) and the IMS SDK's `update_image` on an image
whose bytes came through the API. Bytes are compared by MD5 (and the clients check the
`Content-MD5` they receive on their own)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openstack
import pytest
from glanceclient import Client as GlanceClient
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkims.v2 import ImsClient, UpdateImageRequest, UpdateImageRequestBody
from openstack.image.v2._proxy import Proxy as ImageProxy

from tests.support.servers import AuthServer
from tests.support.uploads import Digests, create, image, md5, raw_bytes, upload

pytestmark = [
    pytest.mark.clients,
    pytest.mark.filterwarnings("ignore:::openstack"),  # openstacksdk's own deprecations
]

GLANCE = Path(sys.executable).parent / "glance"


@pytest.fixture
def image_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = raw_bytes(300 * 1024 + 7)
    path = tmp_path / "disk.raw"
    path.write_bytes(data)
    return path, data


def glance(srv: AuthServer, who: str = "t1") -> GlanceClient:
    return GlanceClient("2", endpoint=srv.url, token=srv.tokens[who].token)


@pytest.fixture
def connection(auth_server: AuthServer) -> Iterator[openstack.connection.Connection]:
    """openstacksdk without Keystone: tenant-a's static token and the image endpoint."""
    conn = openstack.connection.Connection(
        auth_type="admin_token",
        auth={"endpoint": f"{auth_server.url}/v2", "token": auth_server.tokens["t1"].token},
    )
    yield conn
    conn.close()


def image_proxy(connection: openstack.connection.Connection) -> ImageProxy:
    proxy = connection.image
    assert isinstance(proxy, ImageProxy)  # the endpoint is the Image API v2
    return proxy


def test_glanceclient_uploads_and_downloads(
    auth_server: AuthServer, image_file: tuple[Path, bytes]
) -> None:
    path, data = image_file
    g = glance(auth_server)
    created = g.images.create(name="gc", disk_format="raw", container_format="bare")
    with path.open("rb") as f:
        g.images.upload(created["id"], f)  # chunked, as glanceclient sends it
    shown = g.images.get(created["id"])
    assert shown["status"] == "active" and shown["checksum"] == md5(data)
    assert shown["os_hash_algo"] == "sha512" and shown["stores"] == "fs"
    got = b"".join(g.images.data(created["id"]))  # glanceclient checks Content-MD5 itself
    assert md5(got) == md5(data)


def test_the_glance_command_creates_with_a_file_and_downloads(
    auth_server: AuthServer, image_file: tuple[Path, bytes], tmp_path: Path
) -> None:
    path, data = image_file
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "OPENIMS_"))}
    env |= {"OS_IMAGE_URL": auth_server.url, "OS_AUTH_TOKEN": auth_server.tokens["t1"].token}

    def run(*args: str) -> str:
        done = subprocess.run(
            [str(GLANCE), *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    out = run(
        *("image-create", "--name", "cli", "--disk-format", "raw", "--container-format", "bare"),
        *("--file", str(path)),
    )
    [shown] = [i for i in glance(auth_server).images.list() if i["name"] == "cli"]
    assert shown["id"] in out and shown["status"] == "active"
    assert Digests.of(data).recorded_in(shown)
    target = tmp_path / "downloaded.raw"
    run("image-download", "--file", str(target), shown["id"])
    assert md5(target.read_bytes()) == md5(data)


def test_openstacksdk_cloud_layer_creates_with_a_file(
    connection: openstack.connection.Connection, image_file: tuple[Path, bytes]
) -> None:
    path, data = image_file
    created = connection.create_image(
        "sdk-cloud", filename=str(path), disk_format="raw", container_format="bare", wait=True
    )
    assert created is not None
    assert created.status == "active" and created.checksum == md5(data)
    # checked against os_hash_value by the SDK
    got = image_proxy(connection).download_image(created.id)
    assert md5(got.content) == md5(data)


def test_openstacksdk_image_proxy_creates_with_a_file_and_downloads(
    connection: openstack.connection.Connection, image_file: tuple[Path, bytes], tmp_path: Path
) -> None:
    path, data = image_file
    proxy = image_proxy(connection)
    created = proxy.create_image(
        name="sdk-proxy",
        filename=str(path),
        disk_format="raw",
        container_format="bare",
        allow_duplicates=True,
    )
    shown = proxy.get_image(created.id)
    assert shown.status == "active" and shown.size == len(data)
    assert shown.checksum == md5(data) and shown.hash_algo == "sha512"
    target = tmp_path / "downloaded.raw"
    proxy.download_image(shown, output=str(target))
    assert md5(target.read_bytes()) == md5(data)
    streamed = proxy.download_image(shown, stream=True)
    assert md5(b"".join(streamed.iter_content(64 * 1024))) == md5(data)


def test_ims_sdk_updates_an_uploaded_image(auth_server: AuthServer) -> None:
    """`update_image` applies to active images only: one the API filled with bytes is one."""
    c = auth_server.client("t1")
    doc = create(c, name="before")
    data = raw_bytes(4096)
    upload(c, doc["id"], data)
    key = auth_server.keys["t1"]
    credentials = BasicCredentials(key.access_key, key.secret_key, key.project_id)
    sdk = ImsClient.new_builder().with_credentials(credentials).with_endpoint(auth_server.url)
    response = sdk.build().update_image(
        UpdateImageRequest(
            image_id=doc["id"],
            body=[UpdateImageRequestBody(op="replace", path="/name", value="after")],
        )
    )
    assert response.status_code == 200
    assert (response.name, response.status) == ("after", "active")
    assert response.checksum == md5(data) and response.size == len(data)
    assert Digests.of(data).recorded_in(image(c, doc["id"]))
    assert c.get(f"/v2/images/{doc['id']}/file").content == data
