"""The IMS extension operations that need no job and no object storage, over HTTP on SQLite
and PostgreSQL: version discovery by id, the OS-version table, the image quota and the v1
member reads (docs/ims-operations.md)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from openims.config import IMAGE_QUOTA, IMAGE_QUOTA_DEFAULT
from openims.domain.os_versions import os_versions
from tests.support.fixtures import server_fixture
from tests.support.servers import Server

server = server_fixture("server", in_process=True)


def create(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    r = client.post("/v2/images", json={"name": "img", **fields})
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


def ims_error(r: httpx.Response, status: int, code: str) -> None:
    """An IMS refusal: the status, and `{"error": {"message", "code"}}` without Glance's title."""
    assert r.status_code == status, r.text
    assert set(r.json()["error"]) == {"message", "code"}
    assert r.json()["error"]["code"] == code


# --- show_version ------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["v2", "v2.1", "v2.0", "v2.9", "v1"])
def test_show_version_answers_one_version_without_credentials(server: Server, version: str) -> None:
    r = server.open().get(f"/{version}")
    assert r.status_code == 200, r.text
    [entry] = r.json()["versions"]
    expected = "v2.9" if version == "v2" else version
    assert entry["id"] == expected
    assert entry["status"] == ("CURRENT" if expected == "v2.9" else "SUPPORTED")
    prefix = "/v1/" if version == "v1" else "/v2/"
    assert entry["links"] == [{"rel": "self", "href": f"{server.url}{prefix}"}]


def test_show_version_agrees_with_the_version_list(server: Server) -> None:
    c = server.open()
    listed = {v["id"]: v for v in c.get("/versions").json()["versions"]}
    for version_id, entry in listed.items():
        assert c.get(f"/{version_id}").json()["versions"] == [entry]
    assert c.get("/v2").json()["version"] == listed["v2.9"]  # what keystoneauth reads
    assert "v1" not in listed  # not a Glance version: a Glance client must not pick it


def test_an_unknown_version_is_not_found(server: Server) -> None:
    r = server.client().get("/v3")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "APIGW.0101"


# --- list_os_versions ----------------------------------------------------------------------
def test_os_versions_are_the_packaged_table_by_platform(server: Server) -> None:
    r = server.client().get("/v1/cloudimages/os_version")
    assert r.status_code == 200, r.text
    body = r.json()
    table = os_versions()
    assert [p["platform"] for p in body] == list(dict.fromkeys(v.platform for v in table))
    flat = [v for p in body for v in p["version_list"]]
    assert [v["os_version"] for v in flat] == [v.os_version for v in table]
    for group in body:
        for v in group["version_list"]:
            assert v["platform"] == group["platform"]
            assert v["os_version_key"] == v["os_version"]
            assert v["os_bit"] in (32, 64)
            assert v["os_type"] in ("Linux", "Windows")


def test_os_version_tags(server: Server) -> None:
    c = server.client()
    everything = c.get("/v1/cloudimages/os_version").json()
    assert c.get("/v1/cloudimages/os_version", params={"tag": "x86"}).json() == everything
    for tag in ("arm", "bms", "uefi"):
        assert c.get("/v1/cloudimages/os_version", params={"tag": tag}).json() == []
    both = c.get("/v1/cloudimages/os_version?tag=kvm&tag=uefi")
    assert both.status_code == 200 and both.json() == []
    ims_error(c.get("/v1/cloudimages/os_version", params={"tag": "sparc"}), 400, "IMG.0001")


# --- show_image_quota ----------------------------------------------------------------------
def test_quota_counts_the_projects_own_images(server: Server) -> None:
    p1, p2 = server.client("p1"), server.client("p2")

    def resource(c: httpx.Client) -> dict[str, Any]:
        r = c.get("/v1/cloudimages/quota")
        assert r.status_code == 200, r.text
        [res] = r.json()["quotas"]["resources"]
        return dict(res)

    empty = resource(p1)
    assert empty == {
        "type": "image",
        "used": 0,
        "quota": IMAGE_QUOTA_DEFAULT,
        "min": IMAGE_QUOTA[0],
        "max": IMAGE_QUOTA[1],
    }
    first = create(p1)
    create(p1)
    create(p2)
    assert resource(p1)["used"] == 2
    assert resource(p2)["used"] == 1
    assert p1.delete(f"/v2/images/{first['id']}").status_code == 204
    assert resource(p1)["used"] == 1


quota_server = server_fixture("quota_server", in_process=True, env={"OPENIMS_IMAGE_QUOTA": "50"})


def test_quota_limit_is_a_setting(quota_server: Server) -> None:
    r = quota_server.client("p1").get("/v1/cloudimages/quota")
    assert r.json()["quotas"]["resources"][0]["quota"] == 50


# --- list_image_members / show_image_member --------------------------------------------------
def test_v1_members_agree_with_glance(server: Server) -> None:
    owner, member, other = server.client("p1"), server.client("p2"), server.client("p3")
    image = create(owner)
    added = owner.post(f"/v2/images/{image['id']}/members", json={"member": "p2"})
    assert added.status_code == 200, added.text
    v1 = f"/v1/p1/cloudimages/{image['id']}/members"
    glance = f"/v2/images/{image['id']}/members"
    listed = owner.get(v1)
    assert listed.status_code == 200, listed.text
    assert listed.json() == owner.get(glance).json()
    assert [m["member_id"] for m in listed.json()["members"]] == ["p2"]
    shown = owner.get(f"{v1}/p2")
    assert shown.status_code == 200 and shown.json() == owner.get(f"{glance}/p2").json()
    assert shown.json()["status"] == "pending"
    # the member sees itself on its own project's path
    mine = member.get(f"/v1/p2/cloudimages/{image['id']}/members")
    assert [m["member_id"] for m in mine.json()["members"]] == ["p2"]
    # refusals, in the IMS format
    ims_error(owner.get(f"{v1}/p9"), 404, "IMG.0144")
    ims_error(other.get(f"/v1/p3/cloudimages/{image['id']}/members"), 404, "IMG.0027")
    ims_error(owner.get("/v1/p1/cloudimages/no-such-image/members"), 404, "IMG.0027")
    ims_error(owner.get(f"/v1/p2/cloudimages/{image['id']}/members"), 400, "IMG.0067")
    ims_error(other.get(f"{v1}/p2"), 400, "IMG.0067")
