"""The Glance face over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support.catalogs import load
from tests.support.fixtures import server_fixture
from tests.support.seeds import PATCH_EXAMPLE, QUERY_EXAMPLE
from tests.support.servers import Server

# These tests look only at requests and responses: the application in this process serves them
# (tests.support.in_process; `pytest --real-servers` uses an `openims serve` process instead).
server = server_fixture("server", in_process=True)


def create(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    r = client.post("/v2/images", json={"name": "img", **fields})
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


def test_create_returns_201_location_and_the_document(server: Server) -> None:
    c = server.client("p1")
    r = c.post(
        "/v2/images",
        json={
            "name": "web server",
            "disk_format": "qcow2",
            "min_disk": 40,
            "tags": ["env=prod"],
            "team": "blue",
        },
    )
    assert r.status_code == 201
    doc = r.json()
    assert r.headers["location"] == f"{server.url}/v2/images/{doc['id']}"
    assert r.headers["x-request-id"].startswith("req-")
    assert r.headers["x-openstack-request-id"] == r.headers["x-request-id"]
    assert doc["owner"] == "p1"
    assert doc["status"] == "queued"
    assert doc["visibility"] == "private" and doc["__imagetype"] == "private"
    assert doc["tags"] == ["env=prod"] and doc["team"] == "blue"
    assert doc["self"] == f"/v2/images/{doc['id']}"
    assert doc["created_at"].endswith("Z") and len(doc["created_at"]) == 20
    shown = c.get(f"/v2/images/{doc['id']}")
    assert shown.status_code == 200
    assert shown.content == r.content  # the same bytes


def test_create_with_an_id_and_conflict(server: Server) -> None:
    c = server.client("p1")
    image_id = str(uuid.uuid4())
    assert create(c, id=image_id)["id"] == image_id
    r = c.post("/v2/images", json={"id": image_id, "name": "again"})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "IMG.0009"
    r = c.post("/v2/images", json={"id": "not-a-uuid"})
    assert r.status_code == 400


def test_an_id_given_in_upper_case_is_stored_and_shown_in_lower_case(server: Server) -> None:
    """Glance takes a UUID in either case; OpenIMS stores image ids in one form, lower case
    (`tables.ImageId`: PostgreSQL's `uuid`), so the id comes back lower-cased, and that form
    names the image (docs/images.md, "Where OpenIMS differs from Glance")."""
    c = server.client("p1")
    image_id = str(uuid.uuid4())
    doc = create(c, id=image_id.upper())
    assert doc["id"] == image_id and doc["self"] == f"/v2/images/{image_id}"
    assert c.get(f"/v2/images/{image_id}").json() == doc
    assert c.get(f"/v2/images/{image_id.upper()}").status_code == 404
    r = c.post("/v2/images", json={"id": image_id, "name": "again"})
    assert r.status_code == 409


@pytest.mark.parametrize(
    "image_id",
    [
        "not-a-uuid",
        "0123456789abcdef0123456789abcdef",  # a UUID without its hyphens: PostgreSQL reads it
        "{01234567-89ab-cdef-0123-456789abcdef}",
        "01234567-89AB-CDEF-0123-456789ABCDEF",
        "01234567-89ab-cdef-0123-456789abcdef0",
        "x" * 300,
    ],
)
def test_an_id_that_is_no_stored_image_id_is_a_404_on_every_route(
    server: Server, image_id: str
) -> None:
    """Ids are stored as PostgreSQL's `uuid`, which reads forms an id never has and refuses
    anything else: such an id names no image, on either backend, and never fails a query."""
    c = server.client("p1")
    create(c, id="01234567-89ab-cdef-0123-456789abcdef")
    requests: list[tuple[str, str, Any]] = [
        ("GET", f"/v2/images/{image_id}", None),
        ("PATCH", f"/v2/images/{image_id}", []),
        ("DELETE", f"/v2/images/{image_id}", None),
        ("GET", f"/v2/images/{image_id}/file", None),
        ("GET", f"/v2/images/{image_id}/members", None),
        ("PUT", f"/v2/images/{image_id}/tags/web", None),
        ("GET", f"/v2/cloudimages?id={image_id}", None),
        ("GET", f"/v2/images?marker={image_id}", None),
    ]
    for method, path, body in requests:
        headers = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
        r = c.request(method, path, json=body, headers=headers if method == "PATCH" else None)
        if path.startswith("/v2/cloudimages"):  # a filter that matches nothing, or refused
            assert r.status_code == 400 or r.json()["images"] == [], (path, r.text)
        else:
            assert r.status_code in (400, 404), (method, path, r.status_code, r.text)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", 400),
        (b"{", 400),
        (b"[]", 400),
        (b'"x"', 400),
        (b'{"name": 5}', 400),
        (b'{"status": "active"}', 403),
        (b'{"visibility": "public"}', 403),
        (b'{"protected": "yes"}', 400),
        (b'{"min_ram": "big"}', 400),
        (b'{"os_glance_x": "1"}', 403),
        (b'{"team": "a\\u0000b"}', 400),  # PostgreSQL text cannot hold NUL
    ],
)
def test_bad_create_bodies_are_refused_and_write_nothing(
    server: Server, body: bytes, status: int
) -> None:
    c = server.client("p1")
    r = c.post("/v2/images", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "code", "title"}
    assert c.get("/v2/images").json()["images"] == []


def test_seed_documents_are_served_exactly(server: Server) -> None:
    load(server.database_url, [QUERY_EXAMPLE, PATCH_EXAMPLE])
    admin = server.admin()
    for example in (QUERY_EXAMPLE, PATCH_EXAMPLE):
        got = admin.get(f"/v2/images/{example['id']}").json()
        assert {k: got[k] for k in example} == example
        assert got["deleted"] is False and got["deleted_at"] is None


def test_visibility_of_single_images(server: Server) -> None:
    owner, other = server.client("p1"), server.client("p2")
    private = create(owner)
    assert other.get(f"/v2/images/{private['id']}").status_code == 404
    assert server.admin().get(f"/v2/images/{private['id']}").status_code == 200
    r = other.get(f"/v2/images/{private['id']}")
    assert r.json()["error"]["message"] == f"No image found with ID {private['id']}"


def test_glance_list_envelope_and_paging(server: Server) -> None:
    c = server.client("p1")
    ids = {create(c, name=f"img-{i}")["id"] for i in range(7)}
    r = c.get("/v2/images", params={"limit": 3})
    body = r.json()
    assert set(body) == {"images", "first", "schema", "next"}
    assert body["first"] == "/v2/images?limit=3"
    assert body["schema"] == "/v2/schemas/images"
    seen = [i["id"] for i in body["images"]]
    while "next" in body:
        body = c.get(body["next"]).json()
        seen += [i["id"] for i in body["images"]]
    assert len(seen) == 7 and set(seen) == ids
    created = [c.get(f"/v2/images/{i}").json()["created_at"] for i in seen]
    assert created == sorted(created, reverse=True)  # newest first
    assert c.get("/v2/images", params={"limit": 0}).json() == {
        "images": [],
        "first": "/v2/images?limit=0",
        "schema": "/v2/schemas/images",
    }


def test_glance_list_errors(server: Server) -> None:
    c = server.client("p1")
    for params, message in [
        ({"limit": "-1"}, "limit param must be positive"),
        ({"limit": "abc"}, "limit param must be an integer"),
        ({"sort_key": "bogus"}, "Invalid sort key: bogus."),
        ({"sort_dir": "sideways"}, "Invalid sort direction: sideways"),
        ({"marker": str(uuid.uuid4())}, "No image found with ID"),
        ({"visibility": "bogus"}, "Invalid visibility value: bogus"),
        ({"created_at": "gt:not-a-date"}, 'Bad "created_at" query filter format.'),
        ({"protected": "maybe"}, "Invalid value 'maybe' for 'protected' filter."),
    ]:
        r = c.get("/v2/images", params=params)
        assert r.status_code == 400, params
        assert r.json()["error"]["message"].startswith(message), (params, r.text)


def test_delete(server: Server) -> None:
    owner, other = server.client("p1"), server.client("p2")
    image = create(owner)
    assert other.delete(f"/v2/images/{image['id']}").status_code == 404
    assert owner.delete(f"/v2/images/{image['id']}").status_code == 204
    assert owner.get(f"/v2/images/{image['id']}").status_code == 404
    assert owner.delete(f"/v2/images/{image['id']}").status_code == 404
    protected = create(owner, protected=True)
    r = owner.delete(f"/v2/images/{protected['id']}")
    assert r.status_code == 403 and "protected" in r.json()["error"]["message"]
    public = create(server.admin(), visibility="public")
    r = owner.delete(f"/v2/images/{public['id']}")
    assert r.status_code == 403
    assert owner.get(f"/v2/images/{public['id']}").status_code == 200


def test_unknown_routes_and_methods_use_the_error_format(server: Server) -> None:
    c = server.client()
    r = c.get("/v3/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "APIGW.0101"
    r = c.post(f"/v2/images/{uuid.uuid4()}")
    assert r.status_code == 405 and "error" in r.json()


def test_version_discovery(server: Server) -> None:
    c = server.client()
    r = c.get("/")
    assert r.status_code == 300
    versions = r.json()["versions"]
    assert versions[0]["status"] == "CURRENT" and versions[0]["id"].startswith("v2.")
    assert versions[0]["links"][0]["href"] == f"{server.url}/v2/"
    assert c.get("/v2").json()["version"]["status"] == "CURRENT"


def test_schemas_describe_every_document(server: Server) -> None:
    import jsonschema

    load(server.database_url, [QUERY_EXAMPLE, PATCH_EXAMPLE])
    c = server.client("p1")
    create(c, tags=["a"], extra="x")
    schema = c.get("/v2/schemas/image").json()
    assert schema["name"] == "image"
    assert schema["additionalProperties"] == {"type": "string"}
    assert schema["properties"]["__support_kvm"]["is_base"] is False
    assert "is_base" not in schema["properties"]["name"]
    for image in server.admin().get("/v2/images").json()["images"]:
        jsonschema.validate(image, schema)
    images_schema = c.get("/v2/schemas/images").json()
    assert images_schema["properties"]["images"]["items"]["name"] == "image"
    assert c.get("/v2/schemas/member").json()["name"] == "member"
    assert c.get("/v2/schemas/members").json()["name"] == "members"


def test_healthz(server: Server) -> None:
    r = server.client().get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "database": "ok"}
