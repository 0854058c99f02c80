"""PATCH /v2/images/{id} that succeeds, over HTTP on SQLite and PostgreSQL. (Refusals:
`test_patch_errors.py`.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.support.catalogs import load
from tests.support.fixtures import server_fixture
from tests.support.servers import Server, start_server

# These tests look only at requests and responses: the application in this process serves them
# (tests.support.in_process; `pytest --real-servers` uses an `openims serve` process instead).
server = server_fixture("server", in_process=True)

V20 = "application/openstack-images-v2.0-json-patch"
V21 = "application/openstack-images-v2.1-json-patch"


def create(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    r = client.post("/v2/images", json={"name": "img", **fields})
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


def patch(
    client: httpx.Client, image_id: str, ops: list[dict[str, Any]], media: str = V21
) -> httpx.Response:
    return client.patch(
        f"/v2/images/{image_id}", content=json.dumps(ops), headers={"Content-Type": media}
    )


def ok(client: httpx.Client, image_id: str, ops: list[dict[str, Any]], media: str = V21) -> Any:
    r = patch(client, image_id, ops, media)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert client.get(f"/v2/images/{image_id}").content == r.content  # identical to a GET
    return r.json()


def test_the_seed_examples_in_both_dialects(server: Server) -> None:
    c = server.client("p1")
    image = create(c, name="before")
    v20 = ok(c, image["id"], [{"replace": "/name", "value": "test01"}], V20)
    assert v20["name"] == "test01"
    v21 = ok(c, image["id"], [{"op": "replace", "path": "/name", "value": "test02"}])
    assert v21["name"] == "test02"
    assert v21["created_at"] == image["created_at"]
    assert v21["updated_at"] >= image["updated_at"]
    assert {k: v for k, v in v21.items() if k not in ("name", "updated_at")} == {
        k: v for k, v in image.items() if k not in ("name", "updated_at")
    }


def test_a_charset_parameter_is_fine(server: Server) -> None:
    c = server.client("p1")
    image = create(c)
    r = c.patch(
        f"/v2/images/{image['id']}",
        content=json.dumps([{"op": "replace", "path": "/name", "value": "x"}]),
        headers={"Content-Type": f"{V21}; charset=UTF-8"},
    )
    assert r.status_code == 200 and r.json()["name"] == "x"


def test_custom_properties_add_replace_remove_and_escapes(server: Server) -> None:
    c = server.client("p1")
    image = create(c, team="blue", old="x")
    doc = ok(
        c,
        image["id"],
        [
            {"op": "add", "path": "/team", "value": "red"},  # add of an existing one replaces
            {"op": "add", "path": "/a~1b", "value": "slash"},
            {"op": "add", "path": "/c~0d", "value": "tilde"},
            {"op": "remove", "path": "/old"},
            {"op": "add", "path": "/tmp", "value": "1"},
            {"op": "remove", "path": "/tmp"},  # operations apply in order
        ],
    )
    assert doc["team"] == "red" and doc["a/b"] == "slash" and doc["c~d"] == "tilde"
    assert "old" not in doc and "tmp" not in doc
    doc = ok(c, image["id"], [{"add": "/new", "value": "v"}, {"remove": "/team"}], V20)
    assert doc["new"] == "v" and "team" not in doc
    # the property filter of GET /v2/images sees the change
    found = c.get("/v2/images", params={"a/b": "slash"}).json()["images"]
    assert [i["id"] for i in found] == [image["id"]]


def test_an_empty_patch_returns_the_unchanged_image(server: Server) -> None:
    c = server.client("p1")
    image = create(c)
    before = c.get(f"/v2/images/{image['id']}").content
    r = patch(c, image["id"], [])
    assert r.status_code == 200 and r.content == before


def test_move_as_python_glanceclient_sends_it(server: Server) -> None:
    c = server.client("p1")
    image = create(c, team="blue")
    doc = ok(c, image["id"], [{"op": "move", "from": "/team", "path": "/squad"}])
    assert doc["squad"] == "blue" and "team" not in doc


def test_name_description_and_the_registry_attributes(server: Server) -> None:
    c = server.client("p1")
    image = create(c)
    doc = ok(
        c,
        image["id"],
        [
            {"op": "replace", "path": "/name", "value": "镜像 web-01.v2_a"},
            {"op": "add", "path": "/__description", "value": "web servers, 中文"},
            {"op": "replace", "path": "/min_ram", "value": "2048"},  # the SDK sends strings
            {"op": "add", "path": "/max_ram", "value": "4096"},
            {"op": "replace", "path": "/protected", "value": True},
            {"op": "add", "path": "/hw_firmware_type", "value": "uefi"},
            {"op": "add", "path": "/__support_kvm", "value": "true"},
        ],
    )
    assert doc["name"] == "镜像 web-01.v2_a"
    assert doc["__description"] == "web servers, 中文"
    assert doc["min_ram"] == 2048 and doc["max_ram"] == "4096"
    assert doc["protected"] is True
    assert doc["hw_firmware_type"] == "uefi" and doc["__support_kvm"] == "true"
    listed = c.get("/v2/cloudimages", params={"__support_kvm": "true", "min_ram": "2048"})
    assert [i["id"] for i in listed.json()["images"]] == [image["id"]]
    doc = ok(c, image["id"], [{"op": "remove", "path": "/__description"}])
    assert "__description" not in doc


def test_os_shutdown_timeout_takes_60_to_300_seconds_as_a_string(server: Server) -> None:
    c = server.client("p1")
    image = create(c)
    doc = ok(c, image["id"], [{"op": "add", "path": "/os_shutdown_timeout", "value": "60"}])
    assert doc["os_shutdown_timeout"] == "60"
    doc = ok(c, image["id"], [{"op": "replace", "path": "/os_shutdown_timeout", "value": 300}])
    assert doc["os_shutdown_timeout"] == "300"  # a JSON number is kept as the string IMS has
    r = patch(c, image["id"], [{"op": "replace", "path": "/os_shutdown_timeout", "value": "30"}])
    assert r.status_code == 400 and r.json()["error"]["code"] == "IMG.0001"


def test_a_gpu_type_replaces_the_kvm_flag_in_one_patch(server: Server) -> None:
    """IMS: a GPU type cannot co-exist with `__support_xen`/`__support_kvm`. The rule judges
    the result of the whole patch, so one patch may swap the flag for a GPU type."""
    c = server.client("p1")
    image = create(c, __support_kvm="true")
    doc = ok(
        c,
        image["id"],
        [
            {"op": "add", "path": "/__support_kvm_gpu_type", "value": "V100_vGPU"},
            {"op": "remove", "path": "/__support_kvm"},
        ],
    )
    assert doc["__support_kvm_gpu_type"] == "V100_vGPU" and "__support_kvm" not in doc
    r = patch(c, image["id"], [{"op": "add", "path": "/__support_xen", "value": "true"}])
    assert r.status_code == 409, r.text
    assert r.json()["error"] == {
        "message": "Attribute '__support_kvm_gpu_type' cannot co-exist with '__support_xen'.",
        "code": "IMG.0035",
        "title": "Conflict",
    }
    created = c.post(
        "/v2/images", json={"name": "x", "__support_xen_gpu_type": "M60", "__support_xen": "true"}
    )
    assert created.status_code == 409 and created.json()["error"]["code"] == "IMG.0035"


def test_an_imported_conflict_does_not_block_other_changes(server: Server) -> None:
    """Images imported with both attributes keep them; a patch that touches neither passes,
    one that writes either side is refused."""
    from tests.support.seeds import PATCH_EXAMPLE

    both = dict(PATCH_EXAMPLE, __support_kvm="true", __support_kvm_gpu_type="P100")
    load(server.database_url, [both])
    admin = server.admin()
    doc = ok(admin, both["id"], [{"op": "replace", "path": "/name", "value": "renamed"}])
    assert doc["__support_kvm"] == "true" and doc["__support_kvm_gpu_type"] == "P100"
    r = patch(
        admin, both["id"], [{"op": "replace", "path": "/__support_kvm_gpu_type", "value": "V"}]
    )
    assert r.status_code == 409, r.text


def test_tags_in_a_patch_replace_the_whole_list(server: Server) -> None:
    c = server.client("p1")
    image = create(c, tags=["old"])
    doc = ok(c, image["id"], [{"op": "replace", "path": "/tags", "value": ["b", "a", "b"]}])
    assert doc["tags"] == ["b", "a"]  # deduplicated, first-seen order kept
    doc = ok(c, image["id"], [{"op": "add", "path": "/tags", "value": ["os=linux", "k.v"]}])
    assert doc["tags"] == ["os=linux", "k.v"]
    for path in ("/v2/images", "/v2/cloudimages"):
        assert [i["id"] for i in c.get(path, params={"tag": "os=linux"}).json()["images"]] == [
            image["id"]
        ]
        assert c.get(path, params={"tag": "old"}).json()["images"] == []
    # IMS: `tag=key=value` also finds tags stored in the old `key.value` form
    assert [i["id"] for i in c.get("/v2/cloudimages?tag=k=v").json()["images"]] == [image["id"]]


def test_visibility_changes_and_the_ims_image_type(server: Server) -> None:
    c = server.client("p1")
    image = create(c)
    for visibility, imagetype in (
        ("shared", "shared"),
        ("community", "private"),
        ("private", "private"),
    ):
        doc = ok(c, image["id"], [{"op": "replace", "path": "/visibility", "value": visibility}])
        assert (doc["visibility"], doc["__imagetype"]) == (visibility, imagetype)
    admin = server.admin()
    doc = ok(admin, image["id"], [{"op": "replace", "path": "/visibility", "value": "public"}])
    assert (doc["visibility"], doc["__imagetype"]) == ("public", "gold")
    other = server.client("p2")
    assert other.get(f"/v2/images/{image['id']}").status_code == 200


def test_admins_patch_any_image_and_move_it_to_another_owner(server: Server) -> None:
    owner, admin, other = server.client("p1"), server.admin(), server.client("p2")
    image = create(owner)
    doc = ok(admin, image["id"], [{"op": "replace", "path": "/name", "value": "by-admin"}])
    assert doc["name"] == "by-admin" and doc["owner"] == "p1"
    doc = ok(admin, image["id"], [{"op": "replace", "path": "/owner", "value": "p2"}])
    assert doc["owner"] == "p2"
    assert owner.get(f"/v2/images/{image['id']}").status_code == 404
    assert ok(other, image["id"], [{"op": "add", "path": "/mine", "value": "yes"}])["mine"] == "yes"


def test_updated_at_never_moves_backwards(server: Server) -> None:
    """An image imported with a future `updated_at` keeps it; a present one moves on."""
    from tests.support.seeds import PATCH_EXAMPLE

    future = dict(PATCH_EXAMPLE, id="3d0d7d33-5a19-4a4e-8c6b-3b8f2bdb1e01")
    future["updated_at"] = "2100-01-01T00:00:00Z"
    load(server.database_url, [future, PATCH_EXAMPLE])
    admin = server.admin()
    doc = ok(admin, future["id"], [{"op": "add", "path": "/x", "value": "1"}])
    assert doc["updated_at"] == "2100-01-01T00:00:00Z"
    doc = ok(admin, PATCH_EXAMPLE["id"], [{"op": "add", "path": "/x", "value": "1"}])
    assert doc["updated_at"] > PATCH_EXAMPLE["updated_at"]
    assert doc["created_at"] == PATCH_EXAMPLE["created_at"]


def test_patch_is_in_the_openapi_document(server: Server) -> None:
    spec = server.client().get("/openapi.json").json()
    operation = spec["paths"]["/v2/images/{image_id}"]["patch"]
    assert set(operation["requestBody"]["content"]) == {V20, V21}
    assert "415" in operation["responses"] and "409" in operation["responses"]


def test_the_operation_limit_is_a_setting(db_url: str, tmp_path: Path) -> None:
    server = start_server(db_url, tmp_path, auth=False, env={"OPENIMS_MAX_PATCH_OPERATIONS": "2"})
    try:
        c = server.client("p1")
        image = create(c)
        two = [{"op": "add", "path": f"/p{i}", "value": "v"} for i in range(2)]
        assert ok(c, image["id"], two)["p1"] == "v"
        r = patch(c, image["id"], [*two, {"op": "add", "path": "/p2", "value": "v"}])
        assert r.status_code == 413
        assert r.json()["error"]["message"] == (
            "A patch may hold at most 2 operations; this one holds 3."
        )
    finally:
        server.stop()


def test_the_largest_custom_property_is_stored(server: Server) -> None:
    """255 characters of 4-byte UTF-8, name and value, fit the (name, value) index."""
    c = server.client("p1")
    image = create(c)
    name = "".join(chr(0x1F600 + i % 80) for i in range(255))
    value = "".join(chr(0x20000 + (i * 7919) % 40000) for i in range(255))  # incompressible
    doc = ok(c, image["id"], [{"op": "add", "path": f"/{name}", "value": value}])
    assert doc[name] == value
    assert [i["id"] for i in c.get("/v2/images", params={name: value}).json()["images"]] == [
        image["id"]
    ]
