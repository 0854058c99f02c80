"""The IMS update API, `PATCH /v2/cloudimages/{image_id}`, when it succeeds, over HTTP on
SQLite and PostgreSQL. (Refusals: `test_ims_patch_errors.py`; the SDK: `tests/clients`.)"""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.support.catalogs import activate, image, load, private
from tests.support.fixtures import server_fixture
from tests.support.servers import Server

# These tests look only at requests and responses: the application in this process serves them
# (tests.support.in_process; `pytest --real-servers` uses an `openims serve` process instead).
server = server_fixture("server", in_process=True)

JSON = "application/json"


def patch(
    client: httpx.Client, image_id: str, ops: list[dict[str, Any]], content_type: str = JSON
) -> httpx.Response:
    return client.patch(
        f"/v2/cloudimages/{image_id}",
        content=json.dumps(ops),
        headers={"Content-Type": content_type},
    )


def ok(client: httpx.Client, image_id: str, ops: list[dict[str, Any]], **kw: Any) -> Any:
    """The answer, after checking it is the image exactly as the two GETs show it next."""
    r = patch(client, image_id, ops, **kw)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert client.get(f"/v2/images/{image_id}").content == r.content
    listed = client.get("/v2/cloudimages", params={"id": image_id}).json()["images"]
    assert listed == [r.json()]
    return r.json()


def test_the_documented_example(server: Server) -> None:
    before = private("p1", name="before")
    load(server.database_url, [before])
    c = server.client("p1")
    doc = ok(c, before["id"], [{"op": "replace", "path": "/name", "value": "ims_test"}])
    assert doc["name"] == "ims_test"
    assert doc["created_at"] == before["created_at"]
    assert doc["updated_at"] > before["updated_at"]  # the catalog's times are in the past
    unchanged = ("name", "updated_at")
    shown_before = {k: v for k, v in before.items() if k not in unchanged}
    assert {k: v for k, v in doc.items() if k in shown_before} == shown_before


def test_every_listed_attribute_as_the_sdk_sends_it(server: Server) -> None:
    """Every value a string, as `UpdateImageRequestBody` types it, in one patch."""
    target = private("p1", name="web", min_ram=0)
    load(server.database_url, [target])
    c = server.client("p1")
    values = {
        "__description": "web servers, 中文",
        "__support_xen": "true",
        "__support_largememory": "true",
        "__support_diskintensive": "true",
        "__support_highperformance": "true",
        "__support_xen_hana": "true",
        "__is_config_init": "true",
        "enterprise_project_id": "5b4f3c2d-1e0a-4b9c-8d7e-6f5a4b3c2d1e",
        "max_ram": "8192",
        "hw_vif_multiqueue_enabled": "true",
        "hw_firmware_type": "uefi",
        "__support_kvm_infiniband": "true",
        "__support_fc_inject": "true",
        "__support_amd": "true",
        "__support_kvm_hi1822_hisriov": "true",
        "__support_kvm_hi1822_hivirtionet": "true",
    }
    ops = [{"op": "replace", "path": "/name", "value": "镜像 web-01"}]
    ops += [{"op": "replace", "path": "/min_ram", "value": "2048"}]
    ops += [{"op": "add", "path": f"/{k}", "value": v} for k, v in values.items()]
    doc = ok(c, target["id"], ops)
    assert doc["name"] == "镜像 web-01" and doc["min_ram"] == 2048
    assert {k: doc[k] for k in values} == values
    # the query API filters on what was written
    found = c.get(
        "/v2/cloudimages",
        params={"__support_xen": "true", "hw_firmware_type": "uefi", "min_ram": "2048"},
    )
    assert [i["id"] for i in found.json()["images"]] == [target["id"]]
    # and a GPU type may replace the Xen flag in one patch
    doc = ok(
        c,
        target["id"],
        [
            {"op": "remove", "path": "/__support_xen"},
            {"op": "add", "path": "/__support_xen_gpu_type", "value": "M60_GPU"},
        ],
    )
    assert "__support_xen" not in doc and doc["__support_xen_gpu_type"] == "M60_GPU"
    rest = [k for k in values if k != "__support_xen"]
    removed = ok(c, target["id"], [{"op": "remove", "path": f"/{k}"} for k in rest])
    assert not set(values) & set(removed)


def test_extension_attributes(server: Server) -> None:
    target = private("p1", Team="kept", team="blue")  # `Team`: written by the Glance API
    load(server.database_url, [target])
    c = server.client("p1")
    doc = ok(
        c,
        target["id"],
        [
            {"op": "add", "path": "/team", "value": "red"},  # add of a present one replaces
            {"op": "add", "path": "/__support_s4l", "value": "true"},
            {"op": "add", "path": "/a~1b", "value": "slash"},
            {"op": "replace", "path": "/Team", "value": "renamed"},  # exists: no name rule
        ],
    )
    assert doc["team"] == "red" and doc["__support_s4l"] == "true" and doc["a/b"] == "slash"
    assert doc["Team"] == "renamed"
    doc = ok(
        c, target["id"], [{"op": "remove", "path": "/Team"}, {"op": "remove", "path": "/a~1b"}]
    )
    assert "Team" not in doc and "a/b" not in doc
    found = c.get("/v2/cloudimages", params={"__support_s4l": "true"}).json()["images"]
    assert [i["id"] for i in found] == [target["id"]]


def test_an_empty_or_idle_patch_changes_nothing(server: Server) -> None:
    target = private("p1", team="blue")
    load(server.database_url, [target])
    c = server.client("p1")
    before = c.get(f"/v2/images/{target['id']}").content
    assert patch(c, target["id"], []).content == before
    idle = patch(c, target["id"], [{"op": "replace", "path": "/team", "value": "blue"}])
    assert idle.status_code == 200 and idle.content == before  # updated_at kept too


def test_the_sdk_content_type_and_json_numbers(server: Server) -> None:
    target = private("p1")
    load(server.database_url, [target])
    c = server.client("p1")
    sdk_type = "application/json;charset=UTF-8"
    doc = ok(
        c,
        target["id"],
        [{"op": "replace", "path": "/min_ram", "value": 1024}],
        content_type=sdk_type,
    )
    assert doc["min_ram"] == 1024
    doc = ok(
        c,
        target["id"],
        [{"op": "add", "path": "/max_ram", "value": 4096}],
        content_type="Application/JSON",
    )
    assert doc["max_ram"] == "4096"


def test_admins_update_any_image_and_the_owner_stays(server: Server) -> None:
    gold = image(name="gold")
    theirs = private("p2", name="theirs")
    load(server.database_url, [gold, theirs])
    admin = server.admin()
    for target in (gold, theirs):
        doc = ok(admin, target["id"], [{"op": "replace", "path": "/name", "value": "by-admin"}])
        assert doc["name"] == "by-admin" and doc["owner"] == target["owner"]


def test_an_image_becomes_updatable_once_active(server: Server) -> None:
    c = server.client("p1")
    created = c.post("/v2/images", json={"name": "new"}).json()
    r = patch(c, created["id"], [{"op": "replace", "path": "/name", "value": "x"}])
    assert r.status_code == 400 and r.json()["error"]["code"] == "IMG.0046"
    activate(server.database_url, created["id"])
    assert ok(c, created["id"], [{"op": "replace", "path": "/name", "value": "x"}])["name"] == "x"


def test_updated_at_never_moves_backwards(server: Server) -> None:
    future = private("p1", updated_at="2100-01-01T00:00:00Z")
    load(server.database_url, [future])
    c = server.client("p1")
    doc = ok(c, future["id"], [{"op": "add", "path": "/x", "value": "1"}])
    assert doc["updated_at"] == "2100-01-01T00:00:00Z"


def test_the_update_is_in_the_openapi_document(server: Server) -> None:
    spec = server.client().get("/openapi.json").json()
    operation = spec["paths"]["/v2/cloudimages/{image_id}"]["patch"]
    assert set(operation["requestBody"]["content"]) == {JSON}
    body = spec["components"]["schemas"]["CloudImageUpdate"]
    assert body["items"]["properties"]["op"]["enum"] == ["add", "remove", "replace"]
    assert operation["responses"]["200"]["content"][JSON]["schema"] == {
        "$ref": "#/components/schemas/Image"
    }
