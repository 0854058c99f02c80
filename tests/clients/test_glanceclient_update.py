"""python-glanceclient, unchanged, updating images, tags and members against a real server.

`images.update` reads `/v2/schemas/image`, diffs the image with `jsonpatch` and sends a v2.1
patch: `replace` or `add` per property, `remove` for `remove_props`, a `move` when a removed
property's value reappears under a new name, and `/tags` as a whole list."""

from __future__ import annotations

import json

import pytest
from glanceclient import Client
from glanceclient import exc as glance_exc

from tests.support.catalogs import load, private
from tests.support.servers import Server

pytestmark = pytest.mark.clients


def glance(server: Server, project: str = "p1", roles: str | None = None) -> Client:
    headers = {"X-Project-Id": project}
    if roles:
        headers["X-Roles"] = roles
    return Client("2", endpoint=server.url, token="any-token", identity_headers=headers)


def test_images_update_properties_and_tags(server: Server) -> None:
    g = glance(server)
    image = g.images.create(name="cirros", tags=["one"], team="blue", old="x", __os_type="Linux")
    updated = g.images.update(
        image["id"],
        remove_props=["old"],
        name="cirros-0.6",
        team="red",
        new_prop="value",
        min_ram=512,
        __description="tiny test image",
    )
    assert updated["name"] == "cirros-0.6"
    assert updated["team"] == "red" and updated["new_prop"] == "value"
    assert updated["min_ram"] == 512 and updated["__description"] == "tiny test image"
    assert "old" not in updated
    assert updated["tags"] == ["one"]  # sent back whole, unchanged
    updated = g.images.update(image["id"], tags=["two", "env=prod"])
    assert updated["tags"] == ["two", "env=prod"]
    assert [i["id"] for i in g.images.list(filters={"tag": ["env=prod"]})] == [image["id"]]
    got = g.images.get(image["id"])
    assert dict(got) == dict(updated)


def test_renaming_a_property_sends_a_move(server: Server) -> None:
    g = glance(server)
    image = g.images.create(name="img", team="blue")
    planned = g.images.model(**g.images.get(image["id"]))  # what images.update diffs
    del planned["team"]
    planned["squad"] = "blue"
    assert json.loads(planned.patch) == [{"op": "move", "from": "/team", "path": "/squad"}]
    updated = g.images.update(image["id"], remove_props=["team"], squad="blue")
    assert updated["squad"] == "blue" and "team" not in updated


def test_refusals_reach_the_client(server: Server) -> None:
    g = glance(server)
    image = g.images.create(name="img")
    with pytest.raises(glance_exc.HTTPForbidden) as caught:
        g.images.update(image["id"], owner="p2")
    assert "Owner can't be updated by non admin." in str(caught.value)
    with pytest.raises(glance_exc.HTTPForbidden) as caught:
        g.images.update(image["id"], __imagetype="gold")
    assert "Attribute '__imagetype' is reserved." in str(caught.value)
    with pytest.raises(glance_exc.HTTPBadRequest) as caught:
        g.images.update(image["id"], name="bad<name>")
    assert "Invalid image name" in str(caught.value)
    with pytest.raises(glance_exc.HTTPNotFound):
        glance(server, "p2").images.update(image["id"], name="mine")
    assert g.images.get(image["id"])["name"] == "img"


def test_image_tags(server: Server) -> None:
    g = glance(server)
    image = g.images.create(name="img")
    g.image_tags.update(image["id"], "env=prod")
    g.image_tags.update(image["id"], "team")
    assert g.images.get(image["id"])["tags"] == ["env=prod", "team"]
    g.image_tags.delete(image["id"], "env=prod")
    assert g.images.get(image["id"])["tags"] == ["team"]
    with pytest.raises(glance_exc.HTTPNotFound):
        g.image_tags.delete(image["id"], "env=prod")


def test_image_members(server: Server) -> None:
    owner, member = glance(server, "p1"), glance(server, "p2")
    image = owner.images.create(name="to-share")
    created = owner.image_members.create(image["id"], "p2")
    assert created["status"] == "pending" and created["member_id"] == "p2"
    assert [m["member_id"] for m in owner.image_members.list(image["id"])] == ["p2"]
    assert image["id"] not in {i["id"] for i in member.images.list()}
    with pytest.raises(glance_exc.HTTPForbidden):
        owner.image_members.update(image["id"], "p2", "accepted")
    accepted = member.image_members.update(image["id"], "p2", "accepted")
    assert accepted["status"] == "accepted"
    assert image["id"] in {i["id"] for i in member.images.list()}
    assert member.images.get(image["id"])["visibility"] == "shared"
    owner.image_members.delete(image["id"], "p2")
    assert list(owner.image_members.list(image["id"])) == []
    with pytest.raises(glance_exc.HTTPNotFound):
        member.images.get(image["id"])


@pytest.mark.parametrize("name", ["Debian GNU/Linux 12.0.0 64bit", "n" * 200])
def test_images_imported_with_names_outside_the_api_rule(server: Server, name: str) -> None:
    """glanceclient validates the image against `/v2/schemas/image` before it diffs it: a
    name an import took (here longer than the API's 128 characters, or outside its alphabet)
    must pass, and the patch of another field must leave it alone."""
    doc = private("p1", name=name)
    load(server.database_url, [doc])
    g = glance(server)
    updated = g.images.update(doc["id"], min_ram=1024, team="blue")
    assert (updated["name"], updated["min_ram"], updated["team"]) == (name, 1024, "blue")
    assert [i["id"] for i in g.images.list(filters={"name": name})] == [doc["id"]]


def test_hiding_an_image(server: Server) -> None:
    """glanceclient validates the patched image against the schema (`os_hidden` a boolean),
    sends `replace /os_hidden`, and lists hidden images with the `os_hidden` filter."""
    g = glance(server)
    image = g.images.create(name="old")
    shown = g.images.create(name="new")
    assert image["os_hidden"] is False
    assert g.images.update(image["id"], os_hidden=True)["os_hidden"] is True
    with pytest.raises(TypeError, match="is not of type 'boolean'"):  # checked by the client
        g.images.update(image["id"], os_hidden="yes")
    assert [i["id"] for i in g.images.list()] == [shown["id"]]
    assert [i["id"] for i in g.images.list(filters={"os_hidden": True})] == [image["id"]]
