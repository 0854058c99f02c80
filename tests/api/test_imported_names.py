"""Names from real catalogs, over real HTTP on SQLite and PostgreSQL. An import takes any name
Glance stores (a string of up to 255 characters), as a catalog exported from a real IMS region
(whose own OS-version table names `Other Linux(64 bit)`) or from Glance holds; the APIs keep
IMS's name rule for the names they write. An image whose name is outside that rule stays a
first-class image: both PATCH faces, tags and members change its other fields, and the `name`
filter of both lists finds it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import pytest

from tests.support.catalogs import load, private
from tests.support.servers import Server

V21 = "application/openstack-images-v2.1-json-patch"
# outside IMS's alphabet: parentheses, '/', a leading space, '<', 255 characters
NAMES = (
    "Other Linux(64 bit)",
    "Other(32 bit)",
    "Debian GNU/Linux 12.0.0 64bit",
    " web (prod) <blue> ",
    "n" * 255,
)
NOT_AN_API_NAME = (
    "Invalid image name: use 1-128 letters, digits, Chinese characters, spaces, '-', '.' or "
    "'_', not starting or ending with a space."
)


@pytest.fixture
def imported(server: Server) -> dict[str, str]:
    """name -> id of p1's active private images, one per name."""
    docs = [private("p1", name=name) for name in NAMES]
    load(server.database_url, docs)
    return {d["name"]: d["id"] for d in docs}


def _patch(
    client: httpx.Client, path: str, ops: list[dict[str, Any]], content_type: str
) -> httpx.Response:
    return client.patch(path, content=json.dumps(ops), headers={"Content-Type": content_type})


def glance_patch(client: httpx.Client, image_id: str, ops: list[dict[str, Any]]) -> httpx.Response:
    return _patch(client, f"/v2/images/{image_id}", ops, V21)


def ims_patch(client: httpx.Client, image_id: str, ops: list[dict[str, Any]]) -> httpx.Response:
    return _patch(client, f"/v2/cloudimages/{image_id}", ops, "application/json")


def names(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [i["name"] for i in r.json()["images"]]


@pytest.mark.parametrize("name", NAMES)
def test_both_faces_patch_other_fields_of_an_imported_name(
    server: Server, imported: dict[str, str], name: str
) -> None:
    c = server.client("p1")
    image_id = imported[name]
    r = glance_patch(c, image_id, [{"op": "replace", "path": "/min_ram", "value": 512}])
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["min_ram"]) == (name, 512)
    r = ims_patch(c, image_id, [{"op": "add", "path": "/__description", "value": "imported"}])
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["__description"]) == (name, "imported")
    # tags and members rewrite the document too
    assert c.put(f"/v2/images/{image_id}/tags/region").status_code == 204
    r = c.post(f"/v2/images/{image_id}/members", json={"member": "p2"})
    assert r.status_code == 200, r.text
    doc = c.get(f"/v2/images/{image_id}").json()
    assert (doc["name"], doc["tags"], doc["visibility"]) == (name, ["region"], "shared")


@pytest.mark.parametrize("name", NAMES)
def test_the_name_filter_of_both_lists_finds_an_imported_name(
    server: Server, imported: dict[str, str], name: str
) -> None:
    c = server.client("p1")
    assert names(c.get("/v2/images", params={"name": name})) == [name]
    assert names(c.get("/v2/cloudimages", params={"name": name})) == [name]
    assert names(c.get("/v2/images", params={"name": f'in:"{name}",other'})) == [name]


def test_names_written_through_the_apis_keep_the_ims_rule(
    server: Server, imported: dict[str, str]
) -> None:
    c = server.client("p1")
    image_id = imported["Other Linux(64 bit)"]
    r = c.post("/v2/images", json={"name": "Other Linux(64 bit)"})
    assert (r.status_code, r.json()["error"]["message"]) == (400, NOT_AN_API_NAME)
    op = [{"op": "replace", "path": "/name", "value": "Other(32 bit)"}]
    for r in (glance_patch(c, image_id, op), ims_patch(c, image_id, op)):
        assert (r.status_code, r.json()["error"]["code"]) == (400, "IMG.0003"), r.text
    long_name = [{"op": "replace", "path": "/name", "value": "n" * 129}]
    assert glance_patch(c, image_id, long_name).json()["error"]["code"] == "IMG.0002"
    assert c.get(f"/v2/images/{image_id}").json()["name"] == "Other Linux(64 bit)"
    # a name within the rule replaces an imported one
    op = [{"op": "replace", "path": "/name", "value": "Other Linux 64bit"}]
    assert ims_patch(c, image_id, op).json()["name"] == "Other Linux 64bit"


def test_the_image_schema_describes_imported_names(
    server: Server, imported: dict[str, str]
) -> None:
    """python-glanceclient validates an image against `/v2/schemas/image` before it patches
    it, so the schema states what a document may hold (255 characters); the OpenAPI
    description of a create body states what the API takes (128)."""
    c = server.client("p1")
    schema = c.get("/v2/schemas/image").json()
    assert schema["properties"]["name"]["maxLength"] == 255
    for image in c.get("/v2/images").json()["images"]:
        jsonschema.validate(image, schema)
    openapi = c.get("/openapi.json").json()
    create = openapi["components"]["schemas"]["ImageCreate"]["properties"]["name"]
    assert create["maxLength"] == 128
