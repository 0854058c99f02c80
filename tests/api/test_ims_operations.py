"""The IMS extension operations that need no job and no object storage, over HTTP on SQLite
and PostgreSQL: version discovery by id, the OS-version table, the image quota and the v1
member reads (docs/ims-operations.md)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from openims.config import IMAGE_QUOTA, IMAGE_QUOTA_DEFAULT, Settings
from openims.domain.os_versions import os_versions
from tests.support.fixtures import server_fixture
from tests.support.servers import TEST_QUOTAS, Server

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
        "quota": int(TEST_QUOTAS["OPENIMS_IMAGE_QUOTA"]),  # the test servers' setting
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


def test_the_default_quota_is_the_one_ims_documents() -> None:
    assert Settings().image_quota == IMAGE_QUOTA_DEFAULT == 20


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


# --- the IMS tag API ---------------------------------------------------------------------
def tags_of(c: httpx.Client, project: str, image_id: str) -> list[dict[str, str]]:
    r = c.get(f"/v2/{project}/images/{image_id}/tags")
    assert r.status_code == 200, r.text
    found: list[dict[str, str]] = r.json()["tags"]
    return found


def glance_tags(c: httpx.Client, image_id: str) -> list[str]:
    found: list[str] = c.get(f"/v2/images/{image_id}").json()["tags"]
    return found


def test_ims_and_glance_tags_are_one_list(server: Server) -> None:
    c = server.client("p1")
    image = create(c, tags=["solo", "env=prod"])
    iid = image["id"]
    assert tags_of(c, "p1", iid) == [
        {"key": "solo", "value": ""},
        {"key": "env", "value": "prod"},
    ]
    r = c.post(f"/v2/p1/images/{iid}/tags", json={"tag": {"key": "team", "value": "blue"}})
    assert r.status_code == 204, r.text
    assert glance_tags(c, iid) == ["solo", "env=prod", "team=blue"]
    # the same key replaces its tag in place; an equal one changes nothing
    c.post(f"/v2/p1/images/{iid}/tags", json={"tag": {"key": "env", "value": "dev"}})
    c.post(f"/v2/p1/images/{iid}/tags", json={"tag": {"key": "team", "value": "blue"}})
    assert glance_tags(c, iid) == ["solo", "env=dev", "team=blue"]
    # a key-only IMS tag is the Glance tag of the bare key
    c.post(f"/v2/p1/images/{iid}/tags", json={"tag": {"key": "gpu", "value": ""}})
    assert glance_tags(c, iid)[-1] == "gpu"
    # the IMS list filter finds IMS tags in their key=value form
    found = c.get("/v2/cloudimages", params={"tag": "env=dev"}).json()["images"]
    assert [i["id"] for i in found] == [iid]
    # a Glance tag deleted is gone from the IMS view
    assert c.delete(f"/v2/images/{iid}/tags/solo").status_code == 204
    assert {"key": "solo", "value": ""} not in tags_of(c, "p1", iid)


def test_batch_and_single_deletes(server: Server) -> None:
    c = server.client("p1")
    iid = create(c)["id"]
    batch = {
        "action": "create",
        "tags": [
            {"key": "a", "value": "1"},
            {"key": "b", "value": ""},
            {"key": "c", "value": "x.y"},
        ],
    }
    assert c.post(f"/v2/p1/images/{iid}/tags/action", json=batch).status_code == 204
    assert glance_tags(c, iid) == ["a=1", "b", "c=x.y"]
    gone = {
        "action": "delete",
        "tags": [{"key": "a", "value": "other"}, {"key": "zz", "value": ""}],
    }
    assert c.post(f"/v2/p1/images/{iid}/tags/action", json=gone).status_code == 204
    assert glance_tags(c, iid) == ["b", "c=x.y"]
    assert c.delete(f"/v2/p1/images/{iid}/tags/c").status_code == 204
    assert glance_tags(c, iid) == ["b"]
    ims_error(c.delete(f"/v2/p1/images/{iid}/tags/c"), 404, "IMG.0115")
    v1 = c.request("DELETE", f"/v1/p1/cloudimages/{iid}/tags/delete", json={"tags": [{"key": "b"}]})
    assert v1.status_code == 204, v1.text
    assert glance_tags(c, iid) == []


def test_v1_create_or_update_tags(server: Server) -> None:
    c = server.client("p1")
    iid = create(c)["id"]
    r = c.put("/v1/cloudimages/tags", json={"image_id": iid, "tag": "aaaa.1111"})
    assert r.status_code == 204, r.text
    r = c.put(
        "/v1/cloudimages/tags", json={"image_id": iid, "image_tag": {"key": "k", "value": "v"}}
    )
    assert r.status_code == 204, r.text
    c.put("/v1/cloudimages/tags", json={"image_id": iid, "tag": "aaaa.2222"})
    c.put("/v1/cloudimages/tags", json={"image_id": iid, "tag": "bare"})
    assert glance_tags(c, iid) == ["aaaa=2222", "k=v", "bare"]
    both = {"image_id": iid, "tag": "x.y", "image_tag": {"key": "x", "value": "y"}}
    ims_error(c.put("/v1/cloudimages/tags", json=both), 400, "IMG.0115")
    ims_error(c.put("/v1/cloudimages/tags", json={"image_id": iid}), 400, "IMG.0115")
    ims_error(c.put("/v1/cloudimages/tags", json={"tag": "x.y"}), 400, "IMG.0001")
    ims_error(
        c.put("/v1/cloudimages/tags", json={"image_id": "nope", "tag": "x.y"}), 404, "IMG.0027"
    )
    assert glance_tags(c, iid) == ["aaaa=2222", "k=v", "bare"]


@pytest.mark.parametrize(
    "body",
    [
        {"tag": {"key": "", "value": "v"}},
        {"tag": {"key": "k" * 37, "value": "v"}},
        {"tag": {"key": "a=b", "value": "v"}},
        {"tag": {"key": "k", "value": "v" * 44}},
        {"tag": {"key": "k", "value": "a=b"}},
        {"tag": {"key": "k"}},
        {"tag": "k=v"},
        {},
    ],
)
def test_bad_tags_are_refused_and_change_nothing(server: Server, body: dict[str, Any]) -> None:
    c = server.client("p1")
    iid = create(c, tags=["keep=me"])["id"]
    ims_error(c.post(f"/v2/p1/images/{iid}/tags", json=body), 400, "IMG.0115")
    assert glance_tags(c, iid) == ["keep=me"]


def test_bad_batches_are_refused(server: Server) -> None:
    c = server.client("p1")
    iid = create(c, tags=["keep=me"])["id"]
    path = f"/v2/p1/images/{iid}/tags/action"
    ims_error(
        c.post(path, json={"action": "upsert", "tags": [{"key": "a", "value": ""}]}),
        400,
        "IMG.0001",
    )
    dup = {"action": "create", "tags": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]}
    ims_error(c.post(path, json=dup), 400, "IMG.0115")
    ims_error(c.post(path, json={"action": "create", "tags": []}), 400, "IMG.0115")
    ims_error(
        c.post(path, content=b"{not json", headers={"Content-Type": "application/json"}),
        400,
        "IMG.0001",
    )
    many = {"action": "create", "tags": [{"key": f"k{n}", "value": ""} for n in range(10)]}
    ims_error(c.post(path, json=many), 400, "IMG.0116")
    assert glance_tags(c, iid) == ["keep=me"]


def test_only_the_owner_changes_tags(server: Server) -> None:
    owner, member, other = server.client("p1"), server.client("p2"), server.client("p3")
    iid = create(owner, tags=["env=prod"])["id"]
    owner.post(f"/v2/images/{iid}/members", json={"member": "p2"})
    member.put(f"/v2/images/{iid}/members/p2", json={"status": "accepted"})
    tag = {"tag": {"key": "x", "value": "y"}}
    # the member sees the image's tags but may not change them
    assert tags_of(member, "p2", iid) == [{"key": "env", "value": "prod"}]
    ims_error(member.post(f"/v2/p2/images/{iid}/tags", json=tag), 403, "IMG.0026")
    # to anyone else the image does not exist
    ims_error(other.get(f"/v2/p3/images/{iid}/tags"), 404, "IMG.0027")
    ims_error(other.post(f"/v2/p3/images/{iid}/tags", json=tag), 404, "IMG.0027")
    ims_error(other.delete(f"/v2/p3/images/{iid}/tags/env"), 404, "IMG.0027")
    # a path naming another project than the caller's
    ims_error(other.post(f"/v2/p1/images/{iid}/tags", json=tag), 400, "IMG.0067")
    ims_error(other.get("/v2/p1/images/tags"), 400, "IMG.0067")
    assert glance_tags(owner, iid) == ["env=prod"]


def test_the_projects_tags(server: Server) -> None:
    c = server.client("p1")
    create(c, tags=["env=prod", "solo"])
    create(c, tags=["env=dev", "team=blue", "env2"])
    create(server.client("p2"), tags=["secret=1"])
    r = c.get("/v2/p1/images/tags")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "tags": [  # keys and values sorted
            {"key": "env", "values": ["dev", "prod"]},
            {"key": "env2", "values": [""]},
            {"key": "solo", "values": [""]},
            {"key": "team", "values": ["blue"]},
        ]
    }


def test_images_by_tags(server: Server) -> None:
    c = server.client("p1")
    web = create(c, name="web-1", tags=["env=prod", "team=blue"])
    db = create(c, name="db-1", tags=["env=dev", "team=blue"])
    bare = create(c, name="bare")
    create(server.client("p2"), name="web-other", tags=["env=prod"])
    path = "/v2/p1/images/resource_instances/action"

    def found(**body: Any) -> list[str]:
        r = c.post(path, json={"action": "filter", **body})
        assert r.status_code == 200, r.text
        assert r.json()["total_count"] >= len(r.json()["resources"])
        return [res["resource_id"] for res in r.json()["resources"]]

    def ids(**body: Any) -> list[str]:
        return sorted(found(**body))  # the images were created within a second: any order

    def expect(*images: dict[str, Any]) -> list[str]:
        return sorted(i["id"] for i in images)

    everything = found()
    assert sorted(everything) == expect(bare, db, web)
    assert found(limit="1", offset="1") == everything[1:2]
    assert found(limit="2", offset="1") == everything[1:]
    assert found(offset="3") == []
    assert ids(tags=[{"key": "env", "values": ["prod"]}]) == expect(web)
    assert ids(tags=[{"key": "env", "values": []}]) == expect(db, web)
    either = [{"key": "env", "values": ["dev"]}, {"key": "x", "values": []}]
    assert ids(tags_any=either) == expect(db)
    prod_team = [{"key": "env", "values": ["prod"]}, {"key": "team", "values": []}]
    assert ids(not_tags=prod_team) == expect(bare, db)
    assert ids(not_tags_any=[{"key": "team", "values": []}]) == expect(bare)
    assert ids(without_any_tag=True) == expect(bare)
    assert ids(matches=[{"key": "resource_name", "value": "-1"}]) == expect(db, web)
    assert ids(matches=[{"key": "resource_id", "value": web["id"]}]) == expect(web)
    r = c.post(path, json={"action": "filter", "tags": [{"key": "env", "values": ["prod"]}]})
    assert r.json() == {
        "resources": [
            {
                "resource_id": web["id"],
                "resource_detail": {"status": "queued"},
                "tags": [{"key": "env", "value": "prod"}, {"key": "team", "value": "blue"}],
                "resource_name": "web-1",
            }
        ],
        "total_count": 1,
    }
    counted = c.post(path, json={"action": "count", "tags": [{"key": "team", "values": []}]})
    assert counted.json() == {"total_count": 2}
    for bad in (
        {"action": "list"},
        {"action": "filter", "limit": "0"},
        {"action": "filter", "limit": "1001"},
        {"action": "filter", "offset": "-1"},
        {"action": "filter", "tags": [{"key": "", "values": []}]},
        {"action": "filter", "tags": [{"key": "a", "values": ["x", "x"]}]},
        {"action": "filter", "matches": [{"key": "owner", "value": "p1"}]},
    ):
        r = c.post(path, json=bad)
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]["code"] in ("IMG.0001", "IMG.0115")


def test_v1_list_tags(server: Server) -> None:
    c = server.client("p1")
    create(c, name="a", tags=["env=prod", "solo"], disk_format="qcow2")
    create(c, name="b", tags=["env=prod", "team=blue"], disk_format="raw")
    create(server.client("p2"), name="hidden", tags=["secret=1"])

    def listed(**params: str) -> list[str]:
        r = c.get("/v1/cloudimages/tags", params=params)
        assert r.status_code == 200, r.text
        found: list[str] = r.json()["tags"]
        return found

    everything = listed()
    assert sorted(everything) == ["env=prod", "solo", "team=blue"]
    assert sorted(listed(disk_format="qcow2")) == ["env=prod", "solo"]
    assert listed(name="b") == ["env=prod", "team=blue"]
    assert listed(limit="2", page="1") == everything[:2]
    assert listed(limit="2", page="2") == everything[2:]
    assert listed(limit="2", page="3") == []
    for bad in ({"limit": "0"}, {"page": "0"}, {"limit": "x"}, {"page": "1", "limit": "1001"}):
        ims_error(c.get("/v1/cloudimages/tags", params=bad), 400, "IMG.0001")
    # the filters are those of GET /v2/cloudimages, with its refusals
    bad_type = c.get("/v1/cloudimages/tags", params={"__imagetype": "golden"})
    ims_error(bad_type, 400, "IMG.0024")


def test_a_project_id_too_long_is_a_400(server: Server) -> None:
    c = server.client("p1")
    iid = create(c)["id"]
    r = c.get(f"/v2/{'p' * 65}/images/{iid}/tags")
    assert r.status_code == 400, r.text
    assert set(r.json()["error"]) == {"message", "code"}


def test_a_project_id_of_control_characters_is_refused_in_the_ims_format(server: Server) -> None:
    c = server.client("p1")
    iid = create(c)["id"]
    ims_error(c.post(f"/v2/%0D/images/{iid}/tags", json={}), 400, "IMG.0067")
    ims_error(c.get(f"/v2//images/{iid}/tags"), 404, "APIGW.0101")  # no route: an empty ID
