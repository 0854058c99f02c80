"""python-glanceclient, unchanged, against a real server (no-auth: any token is accepted)."""

from __future__ import annotations

import pytest
from glanceclient import Client
from glanceclient import exc as glance_exc

from tests.support.servers import Server

pytestmark = pytest.mark.clients


def glance(server: Server, project: str = "p1") -> Client:
    return Client(
        "2", endpoint=server.url, token="any-token", identity_headers={"X-Project-Id": project}
    )


def test_create_get_list_delete(server: Server) -> None:
    g = glance(server)
    image = g.images.create(
        name="cirros",
        disk_format="qcow2",
        container_format="bare",
        min_disk=1,
        tags=["env=test"],
        __os_type="Linux",
    )
    assert image["status"] == "queued"
    assert image["owner"] == "p1"
    got = g.images.get(image["id"])
    assert got["name"] == "cirros" and got["tags"] == ["env=test"]
    for i in range(5):
        g.images.create(name=f"more-{i}")
    listed = list(g.images.list(page_size=2))  # follows `next` links page by page
    assert len(listed) == 6
    assert len({i["id"] for i in listed}) == 6
    filtered = list(g.images.list(filters={"name": "cirros"}))
    assert [i["id"] for i in filtered] == [image["id"]]
    g.images.delete(image["id"])
    with pytest.raises(glance_exc.HTTPNotFound):
        g.images.get(image["id"])


def test_errors_reach_the_client_as_messages(server: Server) -> None:
    g = glance(server)
    with pytest.raises(glance_exc.HTTPNotFound) as caught:
        g.images.get("00000000-0000-0000-0000-000000000000")
    assert "No image found with ID" in str(caught.value)
    other = g.images.create(name="private")
    with pytest.raises(glance_exc.HTTPNotFound):
        glance(server, "p2").images.get(other["id"])
