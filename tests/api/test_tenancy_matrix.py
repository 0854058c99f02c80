"""The tenant-isolation matrix: for two tenants and an admin, every image route against every
kind of image answers the status documented in `docs/auth.md`, on a real server with
authentication on, on SQLite and PostgreSQL.

The matrix is data: a route is one `ROUTES` entry plus one line in each expected table (a
tenant's view and the admin's). Kinds are relative to the caller: "own" images belong to the
caller's project, "others" to another tenant's, "shared-*" images are another tenant's shared
with the caller in that member status, "own-shared"/"others-shared" are shared with a third
tenant, "missing" is an ID no image has. A common user must not be able to tell another
tenant's private image (or one shared with someone else) from a missing one: the answers are
compared byte for byte, image ID aside.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.catalogs import activate
from tests.support.servers import AuthServer

KINDS = (
    "own-private",
    "others-private",
    "public",
    "shared-pending",
    "shared-accepted",
    "shared-rejected",
    "own-shared",
    "others-shared",
    "missing",
)
THIRD_PARTY = "t3"  # the tenant own-shared and others-shared images are shared with
NEW_MEMBER = "tenant-z"


@dataclass(frozen=True)
class Route:
    """One request. `{id}` is the image, `{member}` the member the kind has (else the caller).
    A `listing` route reports whether the image is among the listed ones, not its status."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None  # sent as JSON
    content_type: str = "application/json"
    listing: bool = False
    writes: bool = False  # changes the image: every cell gets images of its own
    active: bool = False  # needs `active` images (the IMS update): they are activated first


ROUTES: dict[str, Route] = {
    "show": Route("GET", "/v2/images/{id}"),
    "list": Route("GET", "/v2/images", {"limit": "1000"}, listing=True),
    "list marker": Route("GET", "/v2/images", {"marker": "{id}"}),
    "ims list": Route("GET", "/v2/cloudimages", listing=True),
    "ims list by id": Route("GET", "/v2/cloudimages", {"id": "{id}"}, listing=True),
    "ims marker": Route("GET", "/v2/cloudimages", {"marker": "{id}"}),
    "list members": Route("GET", "/v2/images/{id}/members"),
    "show member": Route("GET", "/v2/images/{id}/members/{member}"),
    "add tag": Route("PUT", "/v2/images/{id}/tags/new-tag", writes=True),
    "remove tag": Route("DELETE", "/v2/images/{id}/tags/seed", writes=True),
    "add member": Route(
        "POST", "/v2/images/{id}/members", body={"member": NEW_MEMBER}, writes=True
    ),
    "accept": Route(
        "PUT", "/v2/images/{id}/members/{member}", body={"status": "accepted"}, writes=True
    ),
    "reject": Route(
        "PUT", "/v2/images/{id}/members/{member}", body={"status": "rejected"}, writes=True
    ),
    "remove member": Route("DELETE", "/v2/images/{id}/members/{member}", writes=True),
    "update": Route(
        "PATCH",
        "/v2/images/{id}",
        body=[{"op": "replace", "path": "/name", "value": "new"}],
        content_type="application/openstack-images-v2.1-json-patch",
        writes=True,
    ),
    "ims update": Route(
        "PATCH",
        "/v2/cloudimages/{id}",
        body=[{"op": "replace", "path": "/name", "value": "new"}],
        writes=True,
        active=True,
    ),
    "delete": Route("DELETE", "/v2/images/{id}", writes=True),
}

# One line per route; the columns are KINDS in order: own-private, others-private, public,
# shared-pending, shared-accepted, shared-rejected, own-shared, others-shared, missing.
# fmt: off
TENANT = """
| show          | 200    | 404    | 200    | 200    | 200    | 200    | 200    | 404    | 404    |
| list          | listed | absent | listed | absent | listed | absent | listed | absent | absent |
| list marker   | 200    | 400    | 200    | 200    | 200    | 200    | 200    | 400    | 400    |
| ims list      | listed | absent | listed | absent | listed | absent | listed | absent | absent |
| ims list by id| listed | absent | listed | absent | listed | absent | listed | absent | absent |
| ims marker    | 200    | 400    | 200    | 200    | 200    | 200    | 200    | 400    | 400    |
| list members  | 200    | 404    | 200    | 200    | 200    | 200    | 200    | 404    | 404    |
| show member   | 404    | 404    | 404    | 200    | 200    | 200    | 200    | 404    | 404    |
| add tag       | 204    | 404    | 403    | 403    | 403    | 403    | 204    | 404    | 404    |
| remove tag    | 204    | 404    | 403    | 403    | 403    | 403    | 204    | 404    | 404    |
| add member    | 200    | 404    | 403    | 403    | 403    | 403    | 200    | 404    | 404    |
| accept        | 404    | 404    | 404    | 200    | 200    | 200    | 403    | 404    | 404    |
| reject        | 404    | 404    | 404    | 200    | 200    | 200    | 403    | 404    | 404    |
| remove member | 404    | 404    | 403    | 403    | 403    | 403    | 204    | 404    | 404    |
| update        | 200    | 404    | 403    | 403    | 403    | 403    | 200    | 404    | 404    |
| ims update    | 200    | 404    | 403    | 403    | 403    | 403    | 200    | 404    | 404    |
| delete        | 204    | 404    | 403    | 403    | 403    | 403    | 204    | 404    | 404    |
"""

ADMIN = """
| show          | 200    | 200    | 200    | 200    | 200    | 200    | 200    | 200    | 404    |
| list          | listed | listed | listed | listed | listed | listed | listed | listed | absent |
| list marker   | 200    | 200    | 200    | 200    | 200    | 200    | 200    | 200    | 400    |
| ims list      | listed | listed | listed | listed | listed | listed | listed | listed | absent |
| ims list by id| listed | listed | listed | listed | listed | listed | listed | listed | absent |
| ims marker    | 200    | 200    | 200    | 200    | 200    | 200    | 200    | 200    | 400    |
| list members  | 200    | 200    | 200    | 200    | 200    | 200    | 200    | 200    | 404    |
| show member   | 404    | 404    | 404    | 200    | 200    | 200    | 200    | 200    | 404    |
| add tag       | 204    | 204    | 204    | 204    | 204    | 204    | 204    | 204    | 404    |
| remove tag    | 204    | 204    | 204    | 204    | 204    | 204    | 204    | 204    | 404    |
| add member    | 200    | 200    | 403    | 200    | 200    | 200    | 200    | 200    | 404    |
| accept        | 404    | 404    | 404    | 200    | 200    | 200    | 403    | 403    | 404    |
| reject        | 404    | 404    | 404    | 200    | 200    | 200    | 403    | 403    | 404    |
| remove member | 404    | 404    | 404    | 204    | 204    | 204    | 204    | 204    | 404    |
| update        | 200    | 200    | 200    | 200    | 200    | 200    | 200    | 200    | 404    |
| ims update    | 200    | 200    | 200    | 200    | 200    | 200    | 200    | 200    | 404    |
| delete        | 204    | 204    | 204    | 204    | 204    | 204    | 204    | 204    | 404    |
"""
# fmt: on

EXPECTED = {"t1": TENANT, "t2": TENANT, "admin": ADMIN}
OTHER = {"t1": "t2", "t2": "t1", "admin": "t1"}


def parse_table(text: str) -> dict[str, dict[str, str]]:
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.strip().splitlines()
        if not set(line.strip()) <= set("|-: ")
    ]
    table = {row[0]: dict(zip(KINDS, row[1:], strict=True)) for row in rows}
    assert list(table) == list(ROUTES), "one expected line per route, in ROUTES order"
    return table


def render_table(table: dict[str, dict[str, str]]) -> str:
    """The markdown table `docs/auth.md` shows."""
    width = max(len(r) for r in table)
    lines = ["| " + " | ".join(["route".ljust(width), *KINDS]) + " |"]
    lines.append("|" + "|".join(["-" * (width + 2)] + ["-" * (len(k) + 2) for k in KINDS]) + "|")
    for route, cells in table.items():
        values = [cells[k].ljust(len(k)) for k in KINDS]
        lines.append("| " + " | ".join([route.ljust(width), *values]) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Image:
    id: str
    member: str  # the project the member routes name


class World:
    """Builds images of each kind, as their owners would, through the API."""

    def __init__(self, srv: AuthServer, who: str) -> None:
        self.srv = srv
        self.who = who
        self.me = srv.project(who)
        self.clients = {p: srv.client(p) for p in ("t1", "t2", "t3", "admin")}
        self.count = 0

    def create(self, owner: str, **fields: Any) -> str:
        self.count += 1
        body = {"name": f"img-{self.count}", "tags": ["seed"], **fields}
        r = self.clients[owner].post("/v2/images", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def share(self, owner: str, member: str, status: str) -> str:
        image_id = self.create(owner)
        project = self.srv.project(member)
        r = self.clients[owner].post(f"/v2/images/{image_id}/members", json={"member": project})
        assert r.status_code == 200, r.text
        if status != "pending":
            r = self.clients[member].put(
                f"/v2/images/{image_id}/members/{project}", json={"status": status}
            )
            assert r.status_code == 200, r.text
        return image_id

    def build(self, kind: str) -> Image:
        other, third = OTHER[self.who], self.srv.project(THIRD_PARTY)
        if kind == "own-private":
            return Image(self.create(self.who), self.me)
        if kind == "others-private":
            return Image(self.create(other), self.me)
        if kind == "public":
            return Image(self.create("admin", visibility="public", __imagetype="gold"), self.me)
        if kind.startswith("shared-"):
            return Image(self.share(other, self.who, kind.removeprefix("shared-")), self.me)
        if kind == "own-shared":
            return Image(self.share(self.who, THIRD_PARTY, "accepted"), third)
        if kind == "others-shared":
            return Image(self.share(other, THIRD_PARTY, "accepted"), third)
        assert kind == "missing"
        return Image(str(uuid.uuid4()), self.me)

    def build_for(self, route: Route, kinds: Iterable[str]) -> dict[str, Image]:
        """Fresh images of `kinds` for a route that writes, made `active` if it needs that
        (as a finished upload would; no request can), all at once."""
        images = {kind: self.build(kind) for kind in kinds}
        if route.active:
            existing = [image.id for kind, image in images.items() if kind != "missing"]
            activate(self.srv.server.database_url, *existing)
        return images


def call(client: httpx.Client, route: Route, image: Image) -> httpx.Response:
    def fill(text: str) -> str:
        return text.replace("{id}", image.id).replace("{member}", image.member)

    params = {k: fill(v) for k, v in route.query.items()}
    content = None if route.body is None else json.dumps(route.body).encode()
    headers = {} if content is None else {"Content-Type": route.content_type}
    return client.request(
        route.method, fill(route.path), params=params, content=content, headers=headers
    )


def outcome(route: Route, response: httpx.Response, image: Image) -> str:
    if not route.listing:
        return str(response.status_code)
    assert response.status_code == 200, response.text
    listed = {i["id"] for i in response.json()["images"]}
    return "listed" if image.id in listed else "absent"


def anonymised(response: httpx.Response, image: Image) -> tuple[int, str]:
    return response.status_code, response.text.replace(image.id, "<id>")


@pytest.mark.parametrize("who", ["t1", "t2", "admin"])
def test_every_route_against_every_kind_of_image(auth_server: AuthServer, who: str) -> None:
    expected = parse_table(EXPECTED[who])
    world = World(auth_server, who)
    me = world.clients[who]
    actual: dict[str, dict[str, str]] = {name: {} for name in ROUTES}
    answers: dict[tuple[str, str], httpx.Response] = {}
    images: dict[tuple[str, str], Image] = {}

    shared_set = {kind: world.build(kind) for kind in KINDS}  # for the routes that only read
    for name, route in ROUTES.items():
        route_images = world.build_for(route, KINDS) if route.writes else shared_set
        for kind in KINDS:
            image = route_images[kind]
            response = call(me, route, image)
            assert response.status_code < 500, (name, kind, response.text)
            actual[name][kind] = outcome(route, response, image)
            answers[name, kind], images[name, kind] = response, image

    assert render_table(actual) == render_table(expected), (
        f"\nexpected for {who}:\n{render_table(expected)}\nactual:\n{render_table(actual)}"
    )
    if who == "admin":
        return
    # a tenant cannot tell another tenant's image it may not see from a missing one
    for name, route in ROUTES.items():
        missing = anonymised(answers[name, "missing"], images[name, "missing"])
        for kind in ("others-private", "others-shared"):
            if route.listing:
                assert actual[name][kind] == "absent"
            else:
                assert anonymised(answers[name, kind], images[name, kind]) == missing, (name, kind)


def test_writes_that_are_refused_change_nothing(auth_server: AuthServer) -> None:
    """A write a tenant is refused (403/404) leaves the image and its members as they were."""
    world = World(auth_server, "t1")
    admin = world.clients["admin"]
    expected = parse_table(TENANT)
    refusals = 0
    for kind in ("others-private", "public", "shared-accepted", "others-shared"):
        for name, route in ROUTES.items():
            if not route.writes:
                continue
            image = world.build_for(route, [kind])[kind]
            before = admin.get(f"/v2/images/{image.id}").json()
            members = admin.get(f"/v2/images/{image.id}/members").json()
            response = call(world.clients["t1"], route, image)
            assert str(response.status_code) == expected[name][kind], (name, kind)
            if response.status_code in (403, 404):
                refusals += 1
                assert admin.get(f"/v2/images/{image.id}").json() == before, (name, kind)
                assert admin.get(f"/v2/images/{image.id}/members").json() == members
    assert refusals >= 24


def _documented_tables() -> list[str]:
    text = (Path(__file__).parents[2] / "docs" / "auth.md").read_text("utf-8")
    return re.findall(r"((?:^\|.*\|\n)+)", text, flags=re.MULTILINE)


@pytest.mark.parametrize(("title", "table"), [("tenant", TENANT), ("admin", ADMIN)])
def test_docs_show_the_tested_matrix(title: str, table: str) -> None:
    rendered: Callable[[str], str] = lambda t: render_table(parse_table(t))  # noqa: E731
    assert rendered(table) + "\n" in _documented_tables(), (
        f"docs/auth.md must show the {title} matrix exactly:\n{rendered(table)}"
    )


def test_a_member_sees_only_its_own_membership(auth_server: AuthServer) -> None:
    """Sharing an image with two tenants tells neither about the other."""
    world = World(auth_server, "t1")
    image_id = world.share("t2", "t1", "accepted")
    third = auth_server.project(THIRD_PARTY)
    owner = world.clients["t2"]
    assert owner.post(f"/v2/images/{image_id}/members", json={"member": third}).status_code == 200
    members = world.clients["t1"].get(f"/v2/images/{image_id}/members").json()["members"]
    assert [m["member_id"] for m in members] == ["tenant-a"]
    hidden = world.clients["t1"].get(f"/v2/images/{image_id}/members/{third}")
    assert hidden.status_code == 404
    everyone = owner.get(f"/v2/images/{image_id}/members").json()["members"]
    assert sorted(m["member_id"] for m in everyone) == ["tenant-a", third]
