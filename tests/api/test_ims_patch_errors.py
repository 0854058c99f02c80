"""Every refusal of the IMS update API (`PATCH /v2/cloudimages/{image_id}`) over HTTP, on
SQLite and PostgreSQL, from one table.

`CASES` is the table `docs/patch.md` shows in its IMS section, and
`test_the_docs_tables_are_these_tables` fails when the two drift apart (print them with
`python -m tests.api.test_ims_patch_errors`).
Each case checks the status, the IMS error body (`{"error": {"message", "code"}}`, no `title`)
and that no image changed.

The scene: p1 owns an active private image `own` (custom property `team=blue`, tag `a`), an
active image `shared` with p2 (an accepted member; p3 is a stranger to it) and a `queued` one;
the platform owns an active public `gold` image."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from openims.domain.registry import REGISTRY, Change, Presence
from tests.api.patch_scene import Scene, callers
from tests.support.catalogs import image, load, private, shared
from tests.support.databases import BACKENDS
from tests.support.fixtures import shared_server
from tests.support.servers import Server

JSON = "application/json"
V21 = "application/openstack-images-v2.1-json-patch"
MISSING_ID = "00000000-0000-0000-0000-000000000000"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "patch.md"
NOT_OWNER = "Only the owner of image {id} may do this."


@dataclass(frozen=True)
class Case:
    name: str
    body: Any  # a JSON value, or bytes sent as they are
    status: int
    code: str
    message: str  # `{id}` stands for the image's id
    content_type: str | None = JSON
    caller: str = "owner"  # owner (p1), member (p2), stranger (p3), admin, reader (p1 as reader)
    target: str = "own"  # own, shared, public, queued, or an id as it is

    def request(self) -> str:
        kind = {JSON: "", None: "no Content-Type: "}.get(
            self.content_type, f"`{self.content_type}`: "
        )
        body = (
            self.body.decode() if isinstance(self.body, bytes) else json.dumps(self.body)
        ).replace("|", "\\|")
        who = "" if self.caller == "owner" else f"as {self.caller} "
        where = "" if self.target == "own" else f"on {self.target} "
        shown = f"`{body}`" if body else "(empty)"
        if len(shown) > 90:
            shown = shown[:80] + "…`"
        return f"{kind}{who}{where}{shown}"


def _op(op: str, path: str, value: Any = None) -> list[dict[str, Any]]:
    return [
        {"op": op, "path": path} if op == "remove" else {"op": op, "path": path, "value": value}
    ]


READ_ONLY = ["id", "status", "created_at", "updated_at", "size", "checksum", "self", "locations"]
READ_ONLY += ["disk_format", "container_format", "min_disk"]
RESERVED = ["__imagetype", "__isregistered", "__os_type", "__platform", "__os_version"]
RESERVED += ["__support_arm", "__system__cmkid", "virtual_env_type"]
# changeable on the Glance face, not listed as updatable by IMS
NOT_UPDATABLE = [("protected", True), ("visibility", "shared"), ("tags", ["b"])]
NOT_UPDATABLE += [("os_shutdown_timeout", "120"), ("os_hidden", True)]
NAME_RULE = (
    "Invalid image name: use 1-128 letters, digits, Chinese characters, spaces, '-', '.' or "
    "'_', not starting or ending with a space."
)
DESCRIPTION_RULE = (
    "Invalid image description: at most 1024 characters, without carriage returns, '<' or '>'."
)

CASES: list[Case] = [
    # --- the media type and the body ---
    *(
        Case(
            f"Content-Type {label}",
            _op("replace", "/name", "x"),
            415,
            "IMG.0001",
            f"The request media type {media} is not supported by this server. "
            "The IMS image update expects Content-Type one of: application/json",
            content_type=ct,
        )
        for label, ct, media in (
            ("of the Glance v2.1 JSON patch", V21, V21),
            ("text/plain", "text/plain", "text/plain"),
            ("missing", None, "(none)"),
        )
    ),
    Case("empty body", b"", 400, "IMG.0007", "Body expected in request."),
    Case("invalid JSON", b"[{", 400, "IMG.0001", "Malformed JSON in request body."),
    Case(
        "body is an object",
        {"op": "replace", "path": "/name", "value": "x"},
        400,
        "IMG.0001",
        "Request body must be a JSON array of operation objects.",
    ),
    Case("list of strings", ["replace"], 400, "IMG.0001", "Operations must be JSON objects."),
    Case(
        "more operations than max_patch_operations (100)",
        [{"op": "add", "path": f"/p{i}", "value": "v"} for i in range(101)],
        413,
        "IMG.0001",
        "A patch may hold at most 100 operations; this one holds 101.",
    ),
    *(
        Case(
            f"op `{op}`",
            [{"op": op, "from": "/team", "path": "/name", "value": "x"}],
            400,
            "IMG.0001",
            f"Invalid operation: `{op}`. It must be one of the following: add, remove, replace.",
        )
        for op in ("move", "copy", "test")
    ),
    Case(
        "the Glance v2.0 shape",
        [{"replace": "/name", "value": "x"}],
        400,
        "IMG.0001",
        "Unable to find `op` in JSON Schema change. It must be one of the following: "
        "add, remove, replace.",
    ),
    Case(
        "without path",
        [{"op": "replace", "value": "x"}],
        400,
        "IMG.0001",
        "Unable to find 'path' in JSON Schema change",
    ),
    Case(
        "`replace` without value",
        [{"op": "replace", "path": "/name"}],
        400,
        "IMG.0001",
        'Operation "replace" requires a member named "value".',
    ),
    Case(
        "path without leading slash",
        _op("replace", "name", "x"),
        400,
        "IMG.0001",
        'Pointer `name` does not start with "/".',
    ),
    Case(
        "`add` `/tags/-` (array index)",
        _op("add", "/tags/-", "b"),
        400,
        "IMG.0001",
        "Invalid JSON pointer for this resource: '/tags/-'",
    ),
    # --- the image and the caller ---
    *(
        Case(
            f"unknown image ({target})",
            _op("replace", "/name", "x"),
            404,
            "IMG.0027",
            f"No image found with ID {target}",
            target=target,
        )
        for target in (MISSING_ID, "not-a-uuid")
    ),
    Case(
        "another tenant's private image",
        _op("replace", "/name", "x"),
        404,
        "IMG.0027",
        "No image found with ID {id}",
        caller="member",
    ),
    Case(
        "a shared image the caller is no member of",
        _op("replace", "/name", "x"),
        404,
        "IMG.0027",
        "No image found with ID {id}",
        caller="stranger",
        target="shared",
    ),
    Case(
        "a shared image the caller is a member of",
        _op("replace", "/name", "x"),
        403,
        "IMG.0047",
        NOT_OWNER,
        caller="member",
        target="shared",
    ),
    Case(
        "a public image the caller does not own",
        _op("replace", "/name", "x"),
        403,
        "IMG.0047",
        NOT_OWNER,
        target="public",
    ),
    Case(
        "a reader updates its own image",
        _op("replace", "/name", "x"),
        403,
        "IMG.0026",
        "You are not authorized to complete modify_image action.",
        caller="reader",
    ),
    Case(
        "an image that is not active",
        _op("replace", "/name", "x"),
        400,
        "IMG.0046",
        "Image {id} is queued: only active images can be updated.",
        target="queued",
    ),
    Case(
        "an empty patch of an image that is not active",
        [],
        400,
        "IMG.0046",
        "Image {id} is queued: only active images can be updated.",
        target="queued",
    ),
    # --- attributes that cannot change ---
    *(
        Case(
            f"replace `/{name}`",
            _op("replace", f"/{name}", "x"),
            400,
            "IMG.0105",
            f"Attribute '{name}' is read-only.",
        )
        for name in READ_ONLY
    ),
    *(
        Case(
            f"replace `/{name}`",
            _op("replace", f"/{name}", "x"),
            400,
            "IMG.0105",
            f"Attribute '{name}' is reserved.",
        )
        for name in RESERVED
    ),
    Case(
        "add `/os_glance_foo`",
        _op("add", "/os_glance_foo", "x"),
        400,
        "IMG.0105",
        "Attribute 'os_glance_foo' is reserved.",
    ),
    *(
        Case(
            f"replace `/{name}` (Glance PATCH only)",
            _op("replace", f"/{name}", value),
            400,
            "IMG.0105",
            f"Attribute '{name}' cannot be updated by the IMS update API.",
        )
        for name, value in NOT_UPDATABLE
    ),
    Case(
        "an admin replaces `/owner`",
        _op("replace", "/owner", "p2"),
        400,
        "IMG.0105",
        "Attribute 'owner' cannot be updated by the IMS update API.",
        caller="admin",
    ),
    *(
        Case(
            f"remove `/{name}`",
            _op("remove", f"/{name}"),
            400,
            "IMG.0105",
            f"Property {name} may not be removed.",
        )
        for name in ("name", "min_ram")
    ),
    # --- missing properties and conflicts ---
    Case(
        "replace a missing extension attribute",
        _op("replace", "/squad", "x"),
        400,
        "IMG.0035",
        "Property squad does not exist.",
    ),
    Case(
        "replace a listed attribute the image lacks",
        _op("replace", "/__support_xen", "true"),
        400,
        "IMG.0035",
        "Property __support_xen does not exist.",
    ),
    Case(
        "remove a missing extension attribute",
        _op("remove", "/squad"),
        400,
        "IMG.0035",
        "Property squad does not exist.",
    ),
    Case(
        "two operations, the second fails: the first is not applied",
        [
            {"op": "replace", "path": "/name", "value": "renamed"},
            {"op": "remove", "path": "/squad"},
        ],
        400,
        "IMG.0035",
        "Property squad does not exist.",
    ),
    *(
        Case(
            f"add `/{gpu}` next to `/{flag}`",
            [
                {"op": "add", "path": f"/{flag}", "value": "true"},
                {"op": "add", "path": f"/{gpu}", "value": "V100"},
            ],
            400,
            "IMG.0035",
            f"Attribute '{gpu}' cannot co-exist with '{flag}'.",
        )
        for gpu, flag in (
            ("__support_kvm_gpu_type", "__support_kvm"),
            ("__support_xen_gpu_type", "__support_xen"),
        )
    ),
    # --- extension attribute names and values ---
    *(
        Case(
            f"add an extension attribute named {name}",
            _op("add", f"/{name}", "x"),
            400,
            "IMG.0001",
            f"Invalid value for '{name}': an extension attribute name may not contain "
            "upper-case letters",
        )
        for name in ("Team", "__support_S4L", "équipeÉ")
    ),
    Case(
        "extension attribute value 5",
        _op("add", "/squad", 5),
        400,
        "IMG.0001",
        "Invalid value for 'squad': 5 is not of type 'string'",
    ),
    Case(
        "extension attribute value null",
        _op("replace", "/team", None),
        400,
        "IMG.0001",
        "Invalid value for 'team': null is not allowed (remove the attribute instead).",
    ),
    Case(
        "extension attribute value with a NUL",
        _op("replace", "/team", "a\x00b"),
        400,
        "IMG.0001",
        "Invalid value for 'team': a NUL character is not allowed",
    ),
    # --- the values IMS checks ---
    Case(
        "name of 129 characters",
        _op("replace", "/name", "n" * 129),
        400,
        "IMG.0002",
        "The image name is longer than 128 characters.",
    ),
    *(
        Case(f"name {label}", _op("replace", "/name", value), 400, "IMG.0003", NAME_RULE)
        for label, value in (("empty", ""), ("with a trailing space", "web "), ("with `/`", "a/b"))
    ),
    Case(
        "name that is a number",
        _op("replace", "/name", 5),
        400,
        "IMG.0062",
        "The image name is incorrect: a name is a string.",
    ),
    Case(
        "description of 1025 characters",
        _op("add", "/__description", "d" * 1025),
        400,
        "IMG.0004",
        "The image description is longer than 1024 characters.",
    ),
    *(
        Case(
            f"description with {label}",
            _op("add", "/__description", value),
            400,
            "IMG.0054",
            DESCRIPTION_RULE,
        )
        for label, value in (("`>`", "a>b"), ("a line feed", "a\nb"))
    ),
    *(
        Case(
            f"replace `/min_ram` → {value!r}",
            _op("replace", "/min_ram", value),
            400,
            "IMG.0055",
            f"Invalid value for 'min_ram': {reason}",
        )
        for value, reason in (
            ("big", "'big' is not of type 'integer'"),
            ("-1", "-1 is less than the minimum of 0"),
        )
    ),
    Case(
        "add `/max_ram` → lots",
        _op("add", "/max_ram", "lots"),
        400,
        "IMG.0055",
        "Invalid value for 'max_ram': 'lots' does not match '[0-9]{1,10}'",
    ),
    Case(
        "add `/hw_firmware_type` → efi",
        _op("add", "/hw_firmware_type", "efi"),
        400,
        "IMG.0141",
        "Invalid value for 'hw_firmware_type': hw_firmware_type must be uefi or bios.",
    ),
    Case(
        "add `/hw_vif_multiqueue_enabled` → yes",
        _op("add", "/hw_vif_multiqueue_enabled", "yes"),
        400,
        "IMG.0001",
        "Invalid value for 'hw_vif_multiqueue_enabled': 'yes' is not one of ['true', 'false']",
    ),
    Case(
        "add `/enterprise_project_id` → abc",
        _op("add", "/enterprise_project_id", "abc"),
        400,
        "IMG.0001",
        "Invalid value for 'enterprise_project_id': 'abc' does not match "
        "'0|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}'",
    ),
]


def test_case_names_are_unique() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))


def table() -> str:
    """The refusal table as `docs/patch.md` holds it."""
    lines = ["| case | request | status | code | message |", "|---|---|---|---|---|"]
    for c in CASES:
        message = c.message.replace("|", "\\|")
        lines.append(f"| {c.name} | {c.request()} | {c.status} | {c.code} | {message} |")
    return "\n".join(lines) + "\n"


def rules_table() -> str:
    """What the IMS update API may change, from the attribute registry."""
    may: list[str] = []
    keep: list[str] = []
    for attr in REGISTRY:
        if not attr.ims_update:
            continue
        if attr.change is Change.MODIFIABLE and attr.presence is not Presence.ALWAYS:
            may.append(f"`{attr.name}`")
        else:
            keep.append(f"`{attr.name}`")
    return (
        "| attributes | what the IMS update may do |\n|---|---|\n"
        f"| {', '.join(keep)} | add or replace; never removed |\n"
        f"| {', '.join(may)} | add, replace, remove |\n"
        "| any other registered attribute | 400 `IMG.0105` (read-only, reserved, or changeable "
        "only by `PATCH /v2/images/{image_id}`) |\n"
        "| any other name (an extension attribute; a string) | add, replace, remove; a new "
        "name may not contain upper-case letters; names starting `os_glance_` are reserved |\n"
    )


def test_the_docs_tables_are_these_tables() -> None:
    text = DOCS.read_text(encoding="utf-8")
    hint = "docs/patch.md is out of date: python -m tests.api.test_ims_patch_errors"
    assert rules_table() in text, hint
    assert table() in text, hint


@pytest.fixture(scope="module", params=BACKENDS)
def scene(request: pytest.FixtureRequest) -> Iterator[Scene]:
    """One set of images per backend for all cases: a refused patch changes nothing, and
    every case checks exactly that, so the cases can share it."""
    # refusals are requests and responses only: the application in this process serves them
    server = shared_server(request, request.param, auth=False, in_process=True)
    assert isinstance(server, Server)
    own = private("p1", name="img", team="blue", tags=["a"])
    shared_image = shared("p1", {"p2": "accepted"}, name="shared")
    public = image(name="pub")
    load(server.database_url, [own, shared_image, public])
    with callers(server) as built:
        queued = built.clients["owner"].post("/v2/images", json={"name": "queued"})
        assert queued.status_code == 201, queued.text
        built.freeze(
            {
                "own": own["id"],
                "shared": shared_image["id"],
                "public": public["id"],
                "queued": queued.json()["id"],
            }
        )
        yield built


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_ims_patch_refusal(scene: Scene, case: Case) -> None:
    image_id = scene.ids.get(case.target, case.target)
    content = case.body if isinstance(case.body, bytes) else json.dumps(case.body).encode()
    headers = {"Content-Type": case.content_type} if case.content_type else {}
    r = scene.clients[case.caller].patch(
        f"/v2/cloudimages/{image_id}", content=content, headers=headers
    )
    assert r.status_code == case.status, r.text
    message = case.message.replace("{id}", image_id)
    assert r.json() == {"error": {"message": message, "code": case.code}}
    if case.status == 415:
        assert r.headers["accept-patch"] == JSON
    assert scene.snapshot() == scene.documents  # nothing changed, not even updated_at


if __name__ == "__main__":
    print(rules_table())
    print(table(), end="")
