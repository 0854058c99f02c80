"""Tags and members over HTTP on SQLite and PostgreSQL: the Glance flows, and what each
tenant then sees in `GET /v2/images` and `GET /v2/cloudimages`."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest

from tests.support.fixtures import server_fixture
from tests.support.servers import Server

# These tests look only at requests and responses: the application in this process serves them
# (tests.support.in_process; `pytest --real-servers` uses an `openims serve` process instead).
server = server_fixture("server", in_process=True)


def create(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    r = client.post("/v2/images", json={"name": "img", **fields})
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


def ids(client: httpx.Client, path: str, **params: str) -> set[str]:
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    return {i["id"] for i in r.json()["images"]}


def sees(client: httpx.Client, image_id: str) -> dict[str, bool]:
    """Where the caller finds the image: by id, and in the default lists of both faces."""
    return {
        "get": client.get(f"/v2/images/{image_id}").status_code == 200,
        "images": image_id in ids(client, "/v2/images"),
        "cloudimages": image_id in ids(client, "/v2/cloudimages"),
    }


def error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    message: str = r.json()["error"]["message"]
    return message


# --- tags ----------------------------------------------------------------------------------
def test_tags_put_and_delete(server: Server) -> None:
    c = server.client("p1")
    image = create(c, tags=["first"])
    url = f"/v2/images/{image['id']}/tags"
    r = c.put(f"{url}/env=prod")
    assert r.status_code == 204 and r.content == b""
    assert c.put(f"{url}/env=prod").status_code == 204  # adding it again changes nothing
    doc = c.get(f"/v2/images/{image['id']}").json()
    assert doc["tags"] == ["first", "env=prod"]
    assert doc["updated_at"] >= image["updated_at"]
    for path in ("/v2/images", "/v2/cloudimages"):
        assert ids(c, path, tag="env=prod") == {image["id"]}
        assert ids(c, f"{path}?tag=env=prod&tag=first") == {image["id"]}  # unencoded `=`
        assert ids(c, path, tag="env=test") == set()
    assert c.delete(f"{url}/env=prod").status_code == 204
    assert c.get(f"/v2/images/{image['id']}").json()["tags"] == ["first"]
    assert error(c.delete(f"{url}/env=prod"), 404) == "Tag env=prod not found"
    assert ids(c, "/v2/cloudimages", tag="env=prod") == set()


def test_tag_refusals(server: Server) -> None:
    owner, other = server.client("p1"), server.client("p2")
    image = create(owner)
    url = f"/v2/images/{image['id']}/tags"
    assert error(owner.put(f"{url}/{'t' * 256}"), 400).startswith("Invalid tag")
    assert error(other.put(f"{url}/x"), 404) == f"No image found with ID {image['id']}"
    public = create(server.admin(), visibility="public")
    r = owner.put(f"/v2/images/{public['id']}/tags/x")
    assert error(r, 403) == "You are not authorized to complete modify_image action."
    for i in range(128):
        assert owner.put(f"{url}/t{i}").status_code == 204
    assert error(owner.put(f"{url}/one-too-many"), 413) == "An image may have at most 128 tags."
    assert len(owner.get(f"/v2/images/{image['id']}").json()["tags"]) == 128


# --- members -------------------------------------------------------------------------------
def test_the_member_flow_and_what_each_tenant_sees(server: Server) -> None:
    owner, member, second, stranger = (server.client(p) for p in ("p1", "p2", "p4", "p3"))
    admin = server.admin()
    image = create(owner)
    iid = image["id"]
    members_url = f"/v2/images/{iid}/members"
    member_schema = owner.get("/v2/schemas/member").json()
    members_schema = owner.get("/v2/schemas/members").json()
    assert member_schema["properties"]["status"]["enum"] == ["pending", "accepted", "rejected"]
    nothing = {"get": False, "images": False, "cloudimages": False}
    assert sees(member, iid) == nothing

    # the owner shares: the image becomes `shared`, the member is `pending`
    r = owner.post(members_url, json={"member": "p2"})
    assert r.status_code == 200, r.text
    created = r.json()
    jsonschema.validate(created, member_schema)
    assert created["status"] == "pending"
    assert (created["image_id"], created["member_id"]) == (iid, "p2")
    assert created["schema"] == "/v2/schemas/member"
    assert created["created_at"].endswith("Z") and created["updated_at"] == created["created_at"]
    assert owner.post(members_url, json={"member": "p4"}).status_code == 200
    doc = owner.get(f"/v2/images/{iid}").json()
    assert (doc["visibility"], doc["__imagetype"]) == ("shared", "shared")

    # a pending member can open the image but does not find it in the default lists
    assert sees(member, iid) == {"get": True, "images": False, "cloudimages": False}
    assert iid in ids(member, "/v2/images", member_status="pending")
    assert iid in ids(member, "/v2/images", member_status="all")
    assert iid in ids(member, "/v2/cloudimages", visibility="shared", member_status="pending")
    assert iid not in ids(member, "/v2/cloudimages", visibility="shared", member_status="accepted")
    assert sees(stranger, iid) == nothing

    # who lists and shows which memberships
    listed = owner.get(members_url).json()
    jsonschema.validate(listed, members_schema)
    assert listed["schema"] == "/v2/schemas/members"
    assert [m["member_id"] for m in listed["members"]] == ["p2", "p4"]
    assert [m["member_id"] for m in member.get(members_url).json()["members"]] == ["p2"]
    assert [m["member_id"] for m in admin.get(members_url).json()["members"]] == ["p2", "p4"]
    assert error(stranger.get(members_url), 404) == f"No image found with ID {iid}"
    assert owner.get(f"{members_url}/p2").json() == created
    assert member.get(f"{members_url}/p2").json() == created
    not_found = f"Member p4 not found for image {iid}"
    assert error(member.get(f"{members_url}/p4"), 404) == not_found
    assert error(stranger.get(f"{members_url}/p2"), 404) == f"No image found with ID {iid}"
    assert error(owner.get(f"{members_url}/p9"), 404) == f"Member p9 not found for image {iid}"

    # only the member decides
    r = owner.put(f"{members_url}/p2", json={"status": "accepted"})
    assert error(r, 403) == "You are not authorized to complete modify_member action."
    r = admin.put(f"{members_url}/p2", json={"status": "accepted"})
    assert error(r, 403) == "You are not authorized to complete modify_member action."
    assert error(member.put(f"{members_url}/p4", json={"status": "accepted"}), 404) == not_found
    assert error(member.put(f"{members_url}/p2", json={"status": "bogus"}), 400).startswith(
        "Invalid value for 'status'"
    )
    assert member.get(f"{members_url}/p2").json()["status"] == "pending"

    r = member.put(f"{members_url}/p2", json={"status": "accepted"})
    assert r.status_code == 200
    jsonschema.validate(r.json(), member_schema)
    assert r.json()["status"] == "accepted" and r.json()["created_at"] == created["created_at"]
    assert sees(member, iid) == {"get": True, "images": True, "cloudimages": True}
    assert iid in ids(member, "/v2/cloudimages", visibility="shared", member_status="accepted")
    assert iid in ids(
        member,
        "/v2/cloudimages",
        visibility="shared",
        member_status="accepted",
        __imagetype="shared",
    )
    assert iid not in ids(member, "/v2/cloudimages", visibility="shared", member_status="pending")
    assert sees(second, iid) == {"get": True, "images": False, "cloudimages": False}

    # a rejected image leaves the lists but can still be opened
    assert member.put(f"{members_url}/p2", json={"status": "rejected"}).status_code == 200
    assert sees(member, iid) == {"get": True, "images": False, "cloudimages": False}
    assert iid in ids(member, "/v2/cloudimages", visibility="shared", member_status="rejected")
    assert iid in ids(member, "/v2/images", member_status="rejected")
    assert member.put(f"{members_url}/p2", json={"status": "accepted"}).status_code == 200

    # the member may not add or remove members, nor patch the image
    assert error(member.post(members_url, json={"member": "p5"}), 403) == (
        "You are not authorized to complete add_member action."
    )
    assert error(member.delete(f"{members_url}/p2"), 403) == (
        "You are not authorized to complete delete_member action."
    )

    # the owner stops sharing: the member loses the image entirely
    assert owner.delete(f"{members_url}/p2").status_code == 204
    assert sees(member, iid) == nothing
    assert error(owner.delete(f"{members_url}/p2"), 404) == f"Member p2 not found for image {iid}"
    assert [m["member_id"] for m in owner.get(members_url).json()["members"]] == ["p4"]
    assert sees(owner, iid) == {"get": True, "images": True, "cloudimages": True}
    assert iid in ids(admin, "/v2/images") and iid in ids(admin, "/v2/cloudimages")


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "Invalid value for 'member': a project ID (1-255 characters) is required"),
        (
            {"member": 5},
            400,
            "Invalid value for 'member': a project ID (1-255 characters) is required",
        ),
        ({"member": "p1"}, 400, "An image cannot be shared with its own project."),
    ],
)
def test_member_refusals(server: Server, body: dict[str, Any], status: int, message: str) -> None:
    owner = server.client("p1")
    image = create(owner)
    r = owner.post(f"/v2/images/{image['id']}/members", json=body)
    assert error(r, status) == message
    assert owner.get(f"/v2/images/{image['id']}/members").json()["members"] == []
    assert owner.get(f"/v2/images/{image['id']}").json()["visibility"] == "private"


def test_public_images_cannot_be_shared_and_duplicates_conflict(server: Server) -> None:
    owner, admin = server.client("p1"), server.admin()
    public = create(admin, visibility="public")
    r = admin.post(f"/v2/images/{public['id']}/members", json={"member": "p2"})
    assert error(r, 403) == "Public images cannot be shared."
    image = create(owner)
    url = f"/v2/images/{image['id']}/members"
    assert owner.post(url, json={"member": "p2"}).status_code == 200
    r = owner.post(url, json={"member": "p2"})
    assert error(r, 409) == f"Member p2 already exists for image {image['id']}."
    assert error(server.client("p3").post(url, json={"member": "p3"}), 404).startswith(
        "No image found"
    )


# --- visibility=shared&member_status=S: the rule of each face ---------------------------------
# p1 owns `mine-a` (shared with p2, accepted) and `mine-b` (shared with p3, pending); others
# share `in-accepted`, `in-pending`, `in-rejected` with p1, `not-mine` with p4 only, and
# `admins` with the admin's project. Glance (`_select_images_query`): a common user's list
# is its own shared images plus those shared with it in status S, and an admin's list
# ignores member_status; IMS: only the images shared with the caller in status S.
SHARED_SCENE = {
    "mine-a": ("p1", {"p2": "accepted"}),
    "mine-b": ("p1", {"p3": "pending"}),
    "in-accepted": ("p2", {"p1": "accepted"}),
    "in-pending": ("p3", {"p1": "pending"}),
    "in-rejected": ("p3", {"p1": "rejected", "p2": "accepted"}),
    "not-mine": ("p2", {"p4": "accepted"}),
    "admins": ("p2", {"admin-project": "accepted"}),
}
MINE = {"mine-a", "mine-b"}
EVERY_SHARED = set(SHARED_SCENE)


@pytest.fixture
def shared_scene(server: Server) -> Server:
    from tests.support.catalogs import load, shared

    load(
        server.database_url,
        [shared(owner, members, name=name) for name, (owner, members) in SHARED_SCENE.items()],
    )
    return server


def names(client: httpx.Client, path: str, **params: str) -> set[str]:
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    return {i["name"] for i in r.json()["images"]}


@pytest.mark.parametrize(
    ("member_status", "tenant", "admin"),
    [
        (None, MINE | {"in-accepted"}, EVERY_SHARED),
        ("accepted", MINE | {"in-accepted"}, EVERY_SHARED),  # Glance's default: no change
        ("pending", MINE | {"in-pending"}, EVERY_SHARED),
        ("rejected", MINE | {"in-rejected"}, EVERY_SHARED),
        ("all", MINE | {"in-accepted", "in-pending", "in-rejected"}, EVERY_SHARED),
    ],
)
def test_glance_shared_list_keeps_own_images_and_admins_ignore_member_status(
    shared_scene: Server, member_status: str | None, tenant: set[str], admin: set[str]
) -> None:
    params = {"visibility": "shared"}
    if member_status is not None:
        params["member_status"] = member_status
    assert names(shared_scene.client("p1"), "/v2/images", **params) == tenant
    assert names(shared_scene.admin(), "/v2/images", **params) == admin


@pytest.mark.parametrize(
    ("member_status", "tenant", "admin"),
    [
        ("accepted", {"in-accepted"}, {"admins"}),
        ("pending", {"in-pending"}, set()),
        ("rejected", {"in-rejected"}, set()),
    ],
)
def test_ims_shared_list_with_member_status_shows_only_shares_with_the_caller(
    shared_scene: Server, member_status: str, tenant: set[str], admin: set[str]
) -> None:
    params = {"visibility": "shared", "member_status": member_status}
    assert names(shared_scene.client("p1"), "/v2/cloudimages", **params) == tenant
    assert names(shared_scene.admin(), "/v2/cloudimages", **params) == admin
    # without member_status both faces agree: own shared images and accepted shares
    assert names(shared_scene.client("p1"), "/v2/cloudimages", visibility="shared") == (
        MINE | {"in-accepted"}
    )
