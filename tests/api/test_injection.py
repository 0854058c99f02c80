"""Injection: values full of SQL, JSON and Unicode edge cases are stored as given and matched
literally, by exact equality, on SQLite and PostgreSQL alike, whether they arrive in a create,
a patch (either dialect), a tag or a member id. Nothing is interpreted: not as SQL, not as a
LIKE pattern, not as JSON, and no Unicode normalisation or case folding."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import httpx
import orjson
import pytest

from openims.domain import query
from tests.support.fixtures import server_fixture
from tests.support.servers import Server

# These tests look only at requests and responses: the application in this process serves them
# (tests.support.in_process; `pytest --real-servers` uses an `openims serve` process instead).
server = server_fixture("server", in_process=True)

SQL = [
    "' OR '1'='1",
    "'; DROP TABLE images; --",
    '" OR ""="',
    "1) OR (1=1",
    "x' UNION SELECT doc FROM images --",
    "'; SELECT pg_sleep(10); --",
    "\\'; --",
]
PATTERNS = ["%", "_", "%%", "a%", "_a", "[a-z]", ".*", "*", "?", "\\", "\\%", "$1", "^"]
JSON = ['{"a": 1}', "[]", "null", "true", '"quoted"', "\\u0000", "\\n", '{"$ne": null}', "}{"]
UNICODE = [
    "\u00e9",  # é, composed
    "e\u0301",  # é, decomposed: a different value
    "\u00df",  # ß
    "SS",  # not ß, not ss
    "ss",
    "\u0130",  # İ
    "\uff21\uff22\uff23",  # fullwidth ABC
    "ABC",
    "abc",
    "\U0001f642",  # an emoji outside the BMP
    "\U0001f469\u200d\U0001f469\u200d\U0001f467",  # one ZWJ family
    "\u202eevil",  # right-to-left override
    "a\u200bb",  # zero-width space
    "\ufeffbom",
    "\u4e2d\u6587\u955c\u50cf",
    "\U0010fffd",  # the last private-use plane
    " leading",
    "trailing ",
    "tab\tinside",
    "new\nline",
    "a" * 1024,
    "b" * 3000,  # beyond the 2704 bytes a PostgreSQL B-tree entry may hold
]
VALUES = SQL + PATTERNS + JSON + UNICODE
# tags and member ids exclude '/' and control characters; everything else is a fair tag
TAGS = [v for v in VALUES if "/" not in v and v.isprintable() and len(v) <= 255]


def ids(images: list[dict[str, object]]) -> list[object]:
    return [i["id"] for i in images]


def test_custom_property_values_are_stored_and_matched_literally(server: Server) -> None:
    c = server.client("p-inject")
    made = {}
    for n, value in enumerate(VALUES):
        r = c.post("/v2/images", json={"name": f"v{n}", "note": value})
        assert r.status_code == 201, (value, r.text)
        made[value] = r.json()["id"]
        assert r.json()["note"] == value
    admin = server.admin()
    for value, image_id in made.items():
        shown = c.get(f"/v2/images/{image_id}").json()
        assert shown["note"] == value  # byte for byte, no normalisation
        glance = c.get("/v2/images", params={"note": value, "limit": 1000})
        if len(value) > query.MAX_VALUE_LENGTH:  # storable, but too long for a filter
            assert glance.status_code == 400, (value, glance.text)
            continue
        assert glance.status_code == 200, (value, glance.text)
        assert ids(glance.json()["images"]) == [image_id], value
        ims = admin.get("/v2/cloudimages", params={"note": value, "owner": "p-inject"})
        assert ims.status_code == 200, (value, ims.text)
        assert ids(ims.json()["images"]) == [image_id], value
    # nothing was dropped, nothing else matched
    assert len(c.get("/v2/images", params={"limit": 1000}).json()["images"]) == len(VALUES)


V20 = "application/openstack-images-v2.0-json-patch"
V21 = "application/openstack-images-v2.1-json-patch"


def _patch(c: httpx.Client, image_id: str, name: str, value: str, dialect: str) -> httpx.Response:
    pointer = "/" + name.replace("~", "~0").replace("/", "~1")
    ops = (
        [{"op": "add", "path": pointer, "value": value}]
        if dialect == V21
        else [{"add": pointer, "value": value}]
    )
    return c.patch(
        f"/v2/images/{image_id}", content=orjson.dumps(ops), headers={"Content-Type": dialect}
    )


def test_patched_values_are_stored_and_matched_literally(server: Server) -> None:
    c = server.client("p-inject")
    made = {}
    for n, value in enumerate(VALUES):
        image_id = c.post("/v2/images", json={"name": f"p{n}"}).json()["id"]
        r = _patch(c, image_id, "note", value, (V21, V20)[n % 2])
        assert r.status_code == 200, (value, r.text)
        assert r.json()["note"] == value
        made[value] = image_id
    for value, image_id in made.items():
        assert c.get(f"/v2/images/{image_id}").json()["note"] == value
        if len(value) > query.MAX_VALUE_LENGTH:
            continue
        glance = c.get("/v2/images", params={"note": value, "limit": 1000})
        assert ids(glance.json()["images"]) == [image_id], value
        ims = c.get("/v2/cloudimages", params={"note": value})
        assert ids(ims.json()["images"]) == [image_id], value


def test_patched_property_names_are_stored_literally(server: Server) -> None:
    """Hostile names, and names a JSON pointer must escape (`~1` for `/`, `~0` for `~`)."""
    c = server.client("p-inject")
    image_id = c.post("/v2/images", json={"name": "names"}).json()["id"]
    names = [t for t in TAGS if len(t) <= 255] + ["a/b", "a~b", "~1", "~0", "/"]
    for n, name in enumerate(names):
        r = _patch(c, image_id, name, f"v{n}", (V21, V20)[n % 2])
        assert r.status_code == 200, (name, r.text)
    doc = c.get(f"/v2/images/{image_id}").json()
    for n, name in enumerate(names):
        assert doc[name] == f"v{n}", name


def test_tags_are_stored_and_matched_literally(server: Server) -> None:
    c = server.client("p-inject")
    made = {}
    for n, tag in enumerate(TAGS):
        image_id = c.post("/v2/images", json={"name": f"t{n}"}).json()["id"]
        r = c.put(f"/v2/images/{image_id}/tags/{quote(tag, safe='')}")
        assert r.status_code == 204, (tag, r.text)
        made[tag] = image_id
    for tag, image_id in made.items():
        assert c.get(f"/v2/images/{image_id}").json()["tags"] == [tag]
        glance = c.get("/v2/images", params={"tag": tag})
        assert ids(glance.json()["images"]) == [image_id], tag
        ims = c.get("/v2/cloudimages", params={"tag": tag})
        assert ids(ims.json()["images"]) == [image_id], tag
    # and a tag is removed by its exact value only
    victim = made["%"]
    assert c.delete(f"/v2/images/{victim}/tags/{quote('_', safe='')}").status_code == 404
    assert c.delete(f"/v2/images/{victim}/tags/{quote('%', safe='')}").status_code == 204
    assert c.get(f"/v2/images/{victim}").json()["tags"] == []


def test_member_ids_are_stored_and_matched_literally(server: Server) -> None:
    owner = server.client("p-inject")
    image_id = owner.post("/v2/images", json={"name": "shared"}).json()["id"]
    members = [m for m in TAGS if m.strip() == m][:60]
    for member in members:
        r = owner.post(f"/v2/images/{image_id}/members", json={"member": member})
        assert r.status_code == 200, (member, r.text)
        assert r.json()["member_id"] == member
    listed = owner.get(f"/v2/images/{image_id}/members").json()["members"]
    assert sorted(m["member_id"] for m in listed) == sorted(members)
    for member in members:
        path = f"/v2/images/{image_id}/members/{quote(member, safe='')}"
        assert owner.get(path).json()["member_id"] == member
        if member.isascii():  # a header carries it: the member accepts its own share
            r = server.client(member).put(path, json={"status": "accepted"})
            assert r.status_code == 200, (member, r.text)
            r = server.client(member).get("/v2/images", params={"member_status": "accepted"})
            assert image_id in ids(r.json()["images"]), member
    statuses = {
        m["member_id"]: m["status"]
        for m in owner.get(f"/v2/images/{image_id}/members").json()["members"]
    }
    assert statuses == {m: "accepted" if m.isascii() else "pending" for m in members}


@pytest.mark.parametrize("value", SQL + PATTERNS)
def test_hostile_filters_on_registered_attributes_match_nothing(server: Server, value: str) -> None:
    c = server.client("p-inject")
    c.post("/v2/images", json={"name": "victim", "os_version": "x"})
    for path in ("/v2/images", "/v2/cloudimages"):
        for name in ("name", "owner", "id", "container_format", "os_version", "__os_version"):
            r = c.get(path, params={name: value})
            assert r.status_code in (200, 400), (path, name, r.text)
            if r.status_code == 200:
                assert r.json()["images"] == [], (path, name, value)
            else:
                assert set(r.json()["error"]) >= {"message", "code"}
        for name in ("sort_key", "marker", "limit", "created_at", "visibility"):
            r = c.get(path, params={name: value})
            assert r.status_code == 400, (path, name, value, r.text)
    assert len(c.get("/v2/images").json()["images"]) == 1  # and the table is still there


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"name": "a", "name": "b"}', 201),  # a repeated key: the last one counts
        (b'{"name": "\\ud800"}', 400),  # a lone surrogate is not text
        (b'{"name": "x", "note": "\\ud83d"}', 400),
        (b'{"min_ram": NaN}', 400),
        (b'{"min_ram": Infinity}', 400),
        (b'{"min_ram": 1e400}', 400),
        (b'{"min_ram": 99999999999999999999999999}', 400),
        (b'{"min_ram": 9223372036854775808}', 400),
        (b'{"min_ram": -1}', 400),
        (b'{"min_ram": 1.5}', 400),
        (b'{"min_ram": true}', 400),
        (b'{"note": 5}', 400),
        (b'{"note": ["a"]}', 400),
        (b'{"note": {"$gt": ""}}', 400),
        (b'{"note": "a\\u0000b"}', 400),  # PostgreSQL text cannot hold NUL: refused everywhere
        (b'{"a\\u0000": "x"}', 400),
        (b'{"tags": ["a\\u0000"]}', 400),
        (b"[" * 5000 + b"]" * 5000, 400),  # nesting deeper than the parser's limit
        (b'{"name": "x"} trailing', 400),
        (b"\xff\xfe{", 400),
        (b'{"name": "\xc3\x28"}', 400),  # invalid UTF-8
    ],
)
def test_json_edge_cases_in_bodies(server: Server, body: bytes, status: int) -> None:
    c = server.client("p-inject")
    r = c.post("/v2/images", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    if status == 201:
        assert r.json()["name"] == "b"
    else:
        assert set(r.json()["error"]) == {"message", "code", "title"}
        assert c.get("/v2/images").json()["images"] == []


@pytest.mark.parametrize(
    "path",
    [
        "/v2/images/a%00b",
        "/v2/images/a%00b/members",
        "/v2/images/{id}/members/a%00b",
        "/v2/images/{id}/tags/a%00b",
    ],
)
def test_nul_in_path_parameters_is_not_found_or_refused(server: Server, path: str) -> None:
    c = server.client("p-inject")
    image_id = c.post("/v2/images", json={"name": "nul"}).json()["id"]
    url = httpx.URL(server.url + path.replace("{id}", image_id))
    for method in ("GET", "PUT", "DELETE"):
        r = c.request(method, url, json={"status": "accepted"} if method == "PUT" else None)
        assert r.status_code in (400, 404, 405), (method, path, r.text)
        assert set(orjson.loads(r.content)["error"]) == {"message", "code", "title"}


def test_a_random_image_id_is_a_clean_404(server: Server) -> None:
    r = server.client().get(f"/v2/images/{uuid.uuid4()}' OR '1'='1")
    assert r.status_code == 404
