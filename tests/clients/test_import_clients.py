"""The real clients' interoperable import, unchanged, against a real server with
authentication on: openstacksdk's `create_image(..., use_import=True)` (stage, then a
glance-direct import) and python-glanceclient's `images.stage` + `images.image_import` (what
`glance image-create-via-import --import-method glance-direct` sends, after reading
`/v2/info/import`)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import openstack
import pytest
from glanceclient import Client as GlanceClient

from tests.support.servers import AuthServer
from tests.support.uploads import raw_bytes

pytestmark = [
    pytest.mark.clients,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:::openstack"),  # openstacksdk's own deprecations
]


def glance(srv: AuthServer, who: str) -> GlanceClient:
    return GlanceClient("2", endpoint=srv.url, token=srv.tokens[who].token)


def wait_active(get: Any, image_id: str, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        image = get(image_id)
        if image["status"] == "active":
            return image
        assert image["status"] in ("uploading", "importing"), image
        assert time.monotonic() < deadline, image
        time.sleep(0.05)


def test_openstacksdk_create_image_with_use_import(auth_server: AuthServer, tmp_path: Path) -> None:
    data = raw_bytes(300_000)
    path = tmp_path / "disk.raw"
    path.write_bytes(data)
    conn = openstack.connection.Connection(
        auth_type="admin_token",
        auth={"endpoint": f"{auth_server.url}/v2", "token": auth_server.tokens["t1"].token},
    )
    try:
        image = conn.image.create_image(
            "imported",
            filename=str(path),
            use_import=True,
            disk_format="raw",
            container_format="bare",
            allow_duplicates=True,
        )
        done = wait_active(lambda i: conn.image.get_image(i).to_dict(), image.id)
        assert done["size"] == len(data)
        assert done["checksum"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
        assert done["hash_value"] == hashlib.sha512(data).hexdigest()
        got = conn.image.download_image(image.id)
        assert got.content == data
    finally:
        conn.close()


def test_glanceclient_stage_and_glance_direct_import(
    auth_server: AuthServer, tmp_path: Path
) -> None:
    g = glance(auth_server, "t1")
    assert "glance-direct" in g.images.get_import_info()["import-methods"]["value"]
    assert g.images.get_stores_info()["stores"] == [{"id": "fs", "default": "true"}]
    data = raw_bytes(200_000)
    path = tmp_path / "disk.raw"
    path.write_bytes(data)
    image = g.images.create(name="via-import", disk_format="raw", container_format="bare")
    with path.open("rb") as f:
        g.images.stage(image["id"], f)  # chunked, as `glance image-stage` sends it
    staged = g.images.get(image["id"])
    assert staged["status"] == "uploading" and staged["size"] == len(data)
    g.images.image_import(image["id"], method="glance-direct")
    done = wait_active(g.images.get, image["id"])
    assert done["checksum"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert done["os_glance_failed_import"] == ""
    assert b"".join(g.images.data(image["id"])) == data
