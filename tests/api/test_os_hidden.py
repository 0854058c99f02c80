"""Glance's `os_hidden` over real HTTP, on SQLite and PostgreSQL (Glance 33): every image
shows it (default false), the owner replaces it, and hidden images are left out of
`GET /v2/images` unless the query says `os_hidden=true`, which lists only them. The IMS face
shows the same documents and lists hidden images like any other (docs/cloudimages.md)."""

from __future__ import annotations

import httpx
import pytest

from tests.api.test_patch import V20, create, patch
from tests.support.servers import Server


def names(client: httpx.Client, path: str = "/v2/images", **params: str) -> list[str]:
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    return sorted(i["name"] for i in r.json()["images"])


def test_every_image_shows_os_hidden_and_the_owner_replaces_it(server: Server) -> None:
    owner = server.client("p1")
    doc = create(owner, name="web")
    assert doc["os_hidden"] is False
    keys = list(doc)
    assert keys[keys.index("protected") + 1] == "os_hidden"  # where the registry renders it
    r = patch(owner, doc["id"], [{"op": "replace", "path": "/os_hidden", "value": True}])
    assert r.status_code == 200, r.text
    assert r.json()["os_hidden"] is True
    assert owner.get(f"/v2/images/{doc['id']}").content == r.content
    # v2.1 `add` replaces; v2.0 `add` of a base attribute is a conflict, as in Glance
    r = patch(owner, doc["id"], [{"op": "add", "path": "/os_hidden", "value": False}])
    assert (r.status_code, r.json()["os_hidden"]) == (200, False)
    r = patch(owner, doc["id"], [{"add": "/os_hidden", "value": True}], V20)
    assert (r.status_code, r.json()["error"]["message"]) == (
        409,
        "Property os_hidden already present.",
    )
    r = patch(owner, doc["id"], [{"replace": "/os_hidden", "value": True}], V20)
    assert (r.status_code, r.json()["os_hidden"]) == (200, True)
    # created hidden
    assert create(owner, name="born hidden", os_hidden=True)["os_hidden"] is True
    r = owner.post("/v2/images", json={"name": "x", "os_hidden": "yes"})
    assert r.status_code == 400
    assert (
        r.json()["error"]["message"]
        == "Invalid value for 'os_hidden': 'yes' is not of type 'boolean'"
    )


def test_only_the_owner_or_an_admin_hides_an_image(server: Server) -> None:
    owner, member = server.client("p1"), server.client("p2")
    doc = create(owner, name="shared")
    assert owner.post(f"/v2/images/{doc['id']}/members", json={"member": "p2"}).status_code == 200
    op = [{"op": "replace", "path": "/os_hidden", "value": True}]
    assert patch(member, doc["id"], op).status_code == 403
    assert patch(server.admin(), doc["id"], op).json()["os_hidden"] is True


@pytest.fixture
def hidden_and_shown(server: Server) -> Server:
    owner = server.client("p1")
    for name, hidden in (("shown-1", False), ("shown-2", False), ("hidden-1", True)):
        doc = create(owner, name=name)
        op = [{"op": "replace", "path": "/os_hidden", "value": hidden}]
        assert patch(owner, doc["id"], op).status_code == 200
    admin = server.admin()
    public = create(admin, name="hidden-public", visibility="public")
    op = [{"op": "replace", "path": "/os_hidden", "value": True}]
    assert patch(admin, public["id"], op).status_code == 200
    return server


def test_the_glance_list_leaves_hidden_images_out_unless_asked(hidden_and_shown: Server) -> None:
    c = hidden_and_shown.client("p1")
    assert names(c) == ["shown-1", "shown-2"]
    assert names(c, os_hidden="false") == ["shown-1", "shown-2"]
    for value in ("true", "True", "TRUE"):  # Glance lower-cases the value
        assert names(c, os_hidden=value) == ["hidden-1", "hidden-public"]
    assert names(c, os_hidden="true", visibility="public") == ["hidden-public"]
    assert names(c, name="hidden-1") == []  # the default applies to every other filter too
    assert names(hidden_and_shown.admin(), os_hidden="true") == ["hidden-1", "hidden-public"]
    r = c.get("/v2/images", params={"os_hidden": "maybe"})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == (
        "Invalid value 'maybe' for 'os_hidden' filter. Valid values are 'true' or 'false'."
    )
    # a hidden image is still an image: shown by id, usable as a marker
    hidden = c.get("/v2/images", params={"os_hidden": "true", "name": "hidden-1"}).json()
    image_id = hidden["images"][0]["id"]
    assert c.get(f"/v2/images/{image_id}").json()["os_hidden"] is True
    assert c.get("/v2/images", params={"marker": image_id}).status_code == 200


def test_the_ims_list_shows_hidden_images_and_filters_on_request(
    hidden_and_shown: Server,
) -> None:
    c = hidden_and_shown.client("p1")
    every = ["hidden-1", "hidden-public", "shown-1", "shown-2"]
    assert names(c, "/v2/cloudimages") == every
    assert names(c, "/v2/cloudimages", os_hidden="true") == ["hidden-1", "hidden-public"]
    assert names(c, "/v2/cloudimages", os_hidden="false") == ["shown-1", "shown-2"]
    r = c.get("/v2/cloudimages", params={"os_hidden": "maybe"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "IMG.0001"


def test_the_image_schema_states_os_hidden(server: Server) -> None:
    schema = server.client().get("/v2/schemas/image").json()
    assert schema["properties"]["os_hidden"] == {
        "type": "boolean",
        "description": schema["properties"]["os_hidden"]["description"],
    }  # a base attribute: never null, no `is_base: false`, not read-only
