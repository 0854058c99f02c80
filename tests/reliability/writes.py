"""The writes the crash and replica tests drive, each with the check that finds it afterwards.

A write counts once the client saw it acknowledged (2xx); an `Ack` records what must then be
in the database for good. UPDATE_KINDS lists every kind of change to an existing image.

A patch is a read-modify-write of the whole document (the other kinds write side tables too,
but a patch rewrites everything the image is): each one adds a property of its own, so two
patches of one image that raced and lost one of them would show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx


@dataclass(frozen=True, slots=True)
class Ack:
    kind: str
    image_id: str
    value: str


class Refused(Exception):
    """The server answered a write with something other than success: a bug under this load."""


PATCH_MEDIA_TYPES = (
    "application/openstack-images-v2.1-json-patch",
    "application/openstack-images-v2.0-json-patch",
)


def _expect(r: httpx.Response, status: int) -> None:
    if r.status_code != status:
        raise Refused(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text}")


def create(client: httpx.Client, token: str) -> Ack:
    r = client.post("/v2/images", json={"name": f"img-{token}", "write_token": token})
    _expect(r, 201)
    return Ack("create", r.json()["id"], token)


def add_tag(client: httpx.Client, image_id: str, token: str) -> Ack:
    _expect(client.put(f"/v2/images/{image_id}/tags/t-{token}"), 204)
    return Ack("add_tag", image_id, f"t-{token}")


def add_member(client: httpx.Client, image_id: str, token: str) -> Ack:
    _expect(client.post(f"/v2/images/{image_id}/members", json={"member": f"m-{token}"}), 200)
    return Ack("add_member", image_id, f"m-{token}")


def patch(client: httpx.Client, image_id: str, token: str) -> Ack:
    """Adds the property `p-<token>`, in either dialect. In v2.1 the same patch also rewrites
    `last_patch`, which every v2.1 patch of the image touches: all operations apply, or none."""
    media = PATCH_MEDIA_TYPES[sum(token.encode()) % 2]
    name = f"p-{token}"
    if media.endswith("v2.1-json-patch"):
        body: list[dict[str, str]] = [
            {"op": "add", "path": f"/{name}", "value": token},
            {"op": "add", "path": "/last_patch", "value": token},
        ]
    else:
        body = [{"add": f"/{name}", "value": token}]
    r = client.patch(f"/v2/images/{image_id}", json=body, headers={"Content-Type": media})
    _expect(r, 200)
    if r.json().get(name) != token:
        raise Refused(f"PATCH {image_id}: the answer lacks {name}: {r.text}")
    return Ack("patch", image_id, token)


UpdateKind = Callable[[httpx.Client, str, str], Ack]
UPDATE_KINDS: dict[str, UpdateKind] = {
    "add_tag": add_tag,
    "add_member": add_member,
    "patch": patch,
}


def missing(client: httpx.Client, acks: list[Ack]) -> list[Ack]:
    """The acknowledged writes the server does not show."""
    docs: dict[str, dict[str, object] | None] = {}
    members: dict[str, set[str]] = {}
    lost = []
    for ack in acks:
        if ack.image_id not in docs:
            r = client.get(f"/v2/images/{ack.image_id}")
            docs[ack.image_id] = r.json() if r.status_code == 200 else None
        doc = docs[ack.image_id]
        if doc is None:
            lost.append(ack)
        elif ack.kind == "create":
            if doc.get("write_token") != ack.value or doc.get("name") != f"img-{ack.value}":
                lost.append(ack)
        elif ack.kind == "add_tag":
            if ack.value not in (doc.get("tags") or []):  # type: ignore[operator]
                lost.append(ack)
        elif ack.kind == "patch":
            if doc.get(f"p-{ack.value}") != ack.value:
                lost.append(ack)
        elif ack.kind == "add_member":
            if ack.image_id not in members:
                listed = client.get(f"/v2/images/{ack.image_id}/members").json()["members"]
                members[ack.image_id] = {m["member_id"] for m in listed}
            if ack.value not in members[ack.image_id]:
                lost.append(ack)
        else:
            raise AssertionError(f"no check for write kind {ack.kind}")
    return lost
