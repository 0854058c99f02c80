"""Every PATCH refusal over HTTP, on SQLite and PostgreSQL, from one table.

`CASES` is the table `docs/patch.md` shows: `test_the_docs_table_is_this_table` fails when the
two drift apart (print the table with `python -m tests.api.test_patch_errors`). Each case
checks the status, the code, the exact message, and that the image did not change.

The scene: p1 owns a private image `own` (custom property `team=blue`, tag `a`) and an image
`shared` with p2 (pending member) and a `community` image; the admin owns a `public` image."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from openims.domain.registry import REGISTRY, VISIBILITIES, Change, Presence
from tests.api.patch_scene import Scene, callers
from tests.support.databases import BACKENDS
from tests.support.fixtures import shared_server
from tests.support.servers import Server

V20 = "application/openstack-images-v2.0-json-patch"
V21 = "application/openstack-images-v2.1-json-patch"
MISSING_ID = "00000000-0000-0000-0000-000000000000"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "patch.md"


@dataclass(frozen=True)
class Case:
    name: str
    body: Any  # a JSON value, or bytes sent as they are
    status: int
    code: str
    message: str  # `{id}` stands for the image's id
    content_type: str | None = V21
    caller: str = "owner"  # owner (p1), member (p2), stranger (p3), admin, reader (p1 as reader)
    target: str = "own"  # own, shared, public, community, or an id as it is

    def request(self) -> str:
        dialect = {V21: "v2.1", V20: "v2.0", None: "no Content-Type"}.get(
            self.content_type, f"`{self.content_type}`"
        )
        body = (
            self.body.decode() if isinstance(self.body, bytes) else json.dumps(self.body)
        ).replace("|", "\\|")
        who = "" if self.caller == "owner" else f" as {self.caller}"
        where = "" if self.target == "own" else f" on {self.target}"
        shown = f"`{body}`" if body else "(empty)"
        if len(shown) > 90:
            shown = shown[:80] + "…`"
        return f"{dialect}{who}{where}: {shown}"


def _replace(path: str, value: Any) -> list[dict[str, Any]]:
    return [{"op": "replace", "path": path, "value": value}]


READ_ONLY = [
    "id",
    "status",
    "created_at",
    "updated_at",
    "size",
    "virtual_size",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "self",
    "file",
    "schema",
    "direct_url",
    "locations",
    "stores",
    "deleted",
    "deleted_at",
    "active_at",
    "disk_format",
    "container_format",
    "min_disk",
]
RESERVED = [
    "__imagetype",
    "__isregistered",
    "__os_type",
    "__platform",
    "__os_version",
    "__os_bit",
    "virtual_env_type",
    "__image_source_type",
    "__image_size",
    "__support_arm",
    "__system__cmkid",
]
NOT_REMOVABLE = ["name", "min_ram", "tags", "protected", "visibility", "os_hidden"]
_ENUM = str(list(VISIBILITIES))

CASES: list[Case] = [
    # --- the media type ---
    *(
        Case(
            f"Content-Type {ct or 'missing'}",
            _replace("/name", "x"),
            415,
            "IMG.0001",
            f"The request media type {ct or '(none)'} is not supported by this server. "
            "Image PATCH expects Content-Type one of: "
            f"{V20}, {V21}",
            content_type=ct,
        )
        for ct in ("application/json", "application/json-patch+json", None)
    ),
    # --- the body ---
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
    # --- operations, v2.1 ---
    *(
        Case(
            f"v2.1 op `{op}`",
            [{"op": op, "path": "/name", "value": "x"}],
            400,
            "IMG.0001",
            f"Invalid operation: `{op}`. It must be one of the following: "
            "add, remove, replace, move.",
        )
        for op in ("test", "copy", "bogus")
    ),
    Case(
        "v2.1 body sent as v2.0",
        _replace("/name", "x"),
        400,
        "IMG.0001",
        'Operation objects must contain exactly one member named "add", "remove", or "replace".',
        content_type=V20,
    ),
    Case(
        "v2.0 body sent as v2.1",
        [{"replace": "/name", "value": "x"}],
        400,
        "IMG.0001",
        "Unable to find `op` in JSON Schema change. It must be one of the following: "
        "add, remove, replace, move.",
    ),
    Case(
        "v2.1 without path",
        [{"op": "replace", "value": "x"}],
        400,
        "IMG.0001",
        "Unable to find 'path' in JSON Schema change",
    ),
    *(
        Case(
            f"v2.1 `{op}` without value",
            [{"op": op, "path": "/team"}],
            400,
            "IMG.0001",
            f'Operation "{op}" requires a member named "value".',
        )
        for op in ("add", "replace")
    ),
    Case(
        "v2.1 `move` without from",
        [{"op": "move", "path": "/squad"}],
        400,
        "IMG.0001",
        'Operation "move" requires a member named "from".',
    ),
    # --- operations, v2.0 ---
    Case(
        "v2.0 unknown op",
        [{"move": "/team", "value": "x"}],
        400,
        "IMG.0001",
        'Operation objects must contain exactly one member named "add", "remove", or "replace".',
        content_type=V20,
    ),
    Case(
        "v2.0 two ops in one object",
        [{"add": "/team", "remove": "/team", "value": "x"}],
        400,
        "IMG.0001",
        'Operation objects must contain only one member named "add", "remove", or "replace".',
        content_type=V20,
    ),
    Case(
        "v2.0 `replace` without value",
        [{"replace": "/team"}],
        400,
        "IMG.0001",
        'Operation "replace" requires a member named "value".',
        content_type=V20,
    ),
    # --- JSON pointers ---
    Case(
        "path without leading slash",
        _replace("name", "x"),
        400,
        "IMG.0001",
        'Pointer `name` does not start with "/".',
    ),
    Case(
        "path that is not a string",
        _replace(5, "x"),  # type: ignore[arg-type]
        400,
        "IMG.0001",
        'Pointer `5` does not start with "/".',
    ),
    Case(
        "path with trailing slash",
        _replace("/team/", "x"),
        400,
        "IMG.0001",
        'Pointer `/team/` end with "/".',
    ),
    Case(
        "path with adjacent slashes",
        _replace("/a//b", "x"),
        400,
        "IMG.0001",
        'Pointer `/a//b` contains adjacent "/".',
    ),
    Case(
        "path `/`",
        _replace("/", "x"),
        400,
        "IMG.0001",
        "Pointer `/` does not contains valid token.",
    ),
    Case(
        "path with a bad escape",
        _replace("/a~2", "x"),
        400,
        "IMG.0001",
        'Pointer `/a~2` contains "~" not part of a recognized escape sequence.',
    ),
    *(
        Case(
            f"`add` `{path}` (array index)",
            [{"op": "add", "path": path, "value": "b"}],
            400,
            "IMG.0001",
            f"Invalid JSON pointer for this resource: '{path}'",
        )
        for path in ("/tags/-", "/tags/0")
    ),
    # --- the image and the caller ---
    *(
        Case(
            f"unknown image ({target})",
            _replace("/name", "x"),
            404,
            "IMG.0027",
            f"No image found with ID {target}",
            target=target,
        )
        for target in (MISSING_ID, "not-a-uuid")
    ),
    Case(
        "another tenant's private image",
        _replace("/name", "x"),
        404,
        "IMG.0027",
        "No image found with ID {id}",
        caller="member",
    ),
    Case(
        "a shared image the caller is no member of",
        _replace("/name", "x"),
        404,
        "IMG.0027",
        "No image found with ID {id}",
        caller="stranger",
        target="shared",
    ),
    *(
        Case(
            f"a {target} image the caller does not own",
            _replace("/name", "x"),
            403,
            "IMG.0026",
            "You are not authorized to complete modify_image action.",
            caller=caller,
            target=target,
        )
        for caller, target in (("member", "shared"), ("owner", "public"), ("member", "community"))
    ),
    Case(
        "a reader patches its own image",
        _replace("/name", "x"),
        403,
        "IMG.0026",
        "You are not authorized to complete modify_image action.",
        caller="reader",
    ),
    # --- attributes that cannot change ---
    *(
        Case(
            f"replace `/{name}`",
            _replace(f"/{name}", "x"),
            403,
            "IMG.0105",
            f"Attribute '{name}' is read-only.",
        )
        for name in READ_ONLY
    ),
    Case(
        "an admin replaces `/status`",
        _replace("/status", "active"),
        403,
        "IMG.0105",
        "Attribute 'status' is read-only.",
        caller="admin",
    ),
    Case(
        "remove `/id`",
        [{"op": "remove", "path": "/id"}],
        403,
        "IMG.0105",
        "Attribute 'id' is read-only.",
    ),
    *(
        Case(
            f"replace `/{name}`",
            _replace(f"/{name}", "x"),
            403,
            "IMG.0105",
            f"Attribute '{name}' is reserved.",
        )
        for name in RESERVED
    ),
    Case(
        "add `/os_glance_foo`",
        [{"op": "add", "path": "/os_glance_foo", "value": "x"}],
        403,
        "IMG.0105",
        "Attribute 'os_glance_foo' is reserved.",
    ),
    Case(
        "replace `/owner` (not an admin)",
        _replace("/owner", "p2"),
        403,
        "IMG.0026",
        "Owner can't be updated by non admin.",
    ),
    *(
        Case(
            f"remove `/{name}`",
            [{"op": "remove", "path": f"/{name}"}],
            403,
            "IMG.0105",
            f"Property {name} may not be removed.",
        )
        for name in NOT_REMOVABLE
    ),
    Case(
        "an admin removes `/owner`",
        [{"op": "remove", "path": "/owner"}],
        403,
        "IMG.0105",
        "Property owner may not be removed.",
        caller="admin",
    ),
    Case(
        "replace `/visibility` → public (not an admin)",
        _replace("/visibility", "public"),
        403,
        "IMG.0026",
        "You are not authorized to complete publicize_image action.",
    ),
    # --- missing and present properties ---
    Case(
        "v2.1 replace a missing property",
        _replace("/__nope", "x"),
        409,
        "IMG.0035",
        "Property __nope does not exist.",
    ),
    Case(
        "v2.1 replace a registered attribute the image lacks",
        _replace("/__description", "x"),
        409,
        "IMG.0035",
        "Property __description does not exist.",
    ),
    Case(
        "v2.1 remove a missing property",
        [{"op": "remove", "path": "/__nope"}],
        409,
        "IMG.0035",
        "Property __nope does not exist.",
    ),
    Case(
        "v2.0 remove a missing property",
        [{"remove": "/__nope"}],
        409,
        "IMG.0035",
        "Property __nope does not exist.",
        content_type=V20,
    ),
    Case(
        "v2.0 add an existing property",
        [{"add": "/team", "value": "red"}],
        409,
        "IMG.0035",
        "Property team already present.",
        content_type=V20,
    ),
    *(
        Case(
            f"v2.0 add `/{name}` (every image has it)",
            [{"add": f"/{name}", "value": value}],
            409,
            "IMG.0035",
            f"Property {name} already present.",
            content_type=V20,
        )
        for name, value in (("name", "x"), ("tags", ["b"]), ("visibility", "shared"))
    ),
    Case(
        "v2.1 move from a missing property",
        [{"op": "move", "from": "/__nope", "path": "/squad"}],
        409,
        "IMG.0035",
        "Property __nope does not exist.",
    ),
    Case(
        "two operations, the second fails: the first is not applied",
        [
            {"op": "replace", "path": "/name", "value": "renamed"},
            {"op": "replace", "path": "/__nope", "value": "x"},
        ],
        409,
        "IMG.0035",
        "Property __nope does not exist.",
    ),
    # --- values ---
    Case(
        "custom property value 5",
        _replace("/team", 5),
        400,
        "IMG.0001",
        "Invalid value for 'team': 5 is not of type 'string'",
    ),
    Case(
        "custom property value null",
        _replace("/team", None),
        400,
        "IMG.0001",
        "Invalid value for 'team': null is not allowed (remove the attribute instead).",
    ),
    Case(
        "custom property value with a NUL",
        _replace("/team", "a\x00b"),
        400,
        "IMG.0001",
        "Invalid value for 'team': a NUL character is not allowed",
    ),
    Case(
        "registered string attribute with a NUL",
        [{"op": "add", "path": "/__support_kvm_gpu_type", "value": "a\x00b"}],
        400,
        "IMG.0001",
        "Invalid value for '__support_kvm_gpu_type': a NUL character is not allowed",
    ),
    Case(
        "custom property value of 65536 characters",
        _replace("/team", "v" * 65536),
        400,
        "IMG.0001",
        "Invalid value for 'team': longer than 65535 characters",
    ),
    Case(
        "`__support_kvm` of 256 characters",
        [{"op": "add", "path": "/__support_kvm", "value": "v" * 256}],
        400,
        "IMG.0001",
        "Invalid value for '__support_kvm': longer than 255 characters",
    ),
    Case(
        "custom property name of 256 characters",
        [{"op": "add", "path": "/" + "p" * 256, "value": "x"}],
        400,
        "IMG.0001",
        "Invalid value for '" + "p" * 64 + "': a property name is 1-255 printable characters",
    ),
    Case(
        "replace `/visibility` → bogus",
        _replace("/visibility", "bogus"),
        400,
        "IMG.0001",
        f"Invalid value for 'visibility': 'bogus' is not one of {_ENUM}",
    ),
    Case(
        'replace `/protected` → "yes"',
        _replace("/protected", "yes"),
        400,
        "IMG.0001",
        "Invalid value for 'protected': 'yes' is not of type 'boolean'",
    ),
    Case(
        'replace `/os_hidden` → "true"',
        _replace("/os_hidden", "true"),
        400,
        "IMG.0001",
        "Invalid value for 'os_hidden': 'true' is not of type 'boolean'",
    ),
    Case(
        'replace `/min_ram` → "big"',
        _replace("/min_ram", "big"),
        400,
        "IMG.0055",
        "Invalid value for 'min_ram': 'big' is not of type 'integer'",
    ),
    Case(
        "replace `/min_ram` → -1",
        _replace("/min_ram", -1),
        400,
        "IMG.0055",
        "Invalid value for 'min_ram': -1 is less than the minimum of 0",
    ),
    Case(
        "add `/hw_firmware_type` → efi",
        [{"op": "add", "path": "/hw_firmware_type", "value": "efi"}],
        400,
        "IMG.0141",
        "Invalid value for 'hw_firmware_type': hw_firmware_type must be uefi or bios.",
    ),
    Case(
        "add `/enterprise_project_id` → abc",
        [{"op": "add", "path": "/enterprise_project_id", "value": "abc"}],
        400,
        "IMG.0001",
        "Invalid value for 'enterprise_project_id': 'abc' does not match "
        "'0|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}'",
    ),
    *(
        Case(
            f"add `/os_shutdown_timeout` → {value!r}",
            [{"op": "add", "path": "/os_shutdown_timeout", "value": value}],
            400,
            "IMG.0001",
            f"Invalid value for 'os_shutdown_timeout': {reason}",
        )
        for value, reason in (
            ("59", "'59' is less than the minimum of 60"),
            (301, "'301' is greater than the maximum of 300"),
            ("1e2", "'1e2' does not match '[0-9]{1,4}'"),
        )
    ),
    *(
        Case(
            f"add `/{gpu}` next to `/{flag}`",
            [
                {"op": "add", "path": f"/{flag}", "value": "true"},
                {"op": "add", "path": f"/{gpu}", "value": "V100"},
            ],
            409,
            "IMG.0035",
            f"Attribute '{gpu}' cannot co-exist with '{flag}'.",
        )
        for gpu, flag in (
            ("__support_kvm_gpu_type", "__support_kvm"),
            ("__support_xen_gpu_type", "__support_kvm"),
            ("__support_kvm_gpu_type", "__support_xen"),
        )
    ),
    Case(
        "name of 129 characters",
        _replace("/name", "n" * 129),
        400,
        "IMG.0002",
        "The image name is longer than 128 characters.",
    ),
    *(
        Case(
            f"name {label}",
            _replace("/name", value),
            400,
            "IMG.0003",
            "Invalid image name: use 1-128 letters, digits, Chinese characters, spaces, "
            "'-', '.' or '_', not starting or ending with a space.",
        )
        for label, value in (
            ("empty", ""),
            ("with a leading space", " web"),
            ("with `<`", "a<b"),
        )
    ),
    Case(
        "name that is a number",
        _replace("/name", 5),
        400,
        "IMG.0062",
        "The image name is incorrect: a name is a string.",
    ),
    Case(
        "name null",
        _replace("/name", None),
        400,
        "IMG.0001",
        "Invalid value for 'name': null is not allowed (remove the attribute instead).",
    ),
    Case(
        "description of 1025 characters",
        [{"op": "add", "path": "/__description", "value": "d" * 1025}],
        400,
        "IMG.0004",
        "The image description is longer than 1024 characters.",
    ),
    *(
        Case(
            f"description with {label}",
            [{"op": "add", "path": "/__description", "value": value}],
            400,
            "IMG.0054",
            "Invalid image description: at most 1024 characters, without carriage returns, "
            "'<' or '>'.",
        )
        for label, value in (("`<`", "a<b"), ("a carriage return", "a\rb"), ("a NUL", "a\x00b"))
    ),
    Case(
        "replace `/tags` → a string",
        _replace("/tags", "a"),
        400,
        "IMG.0115",
        "Invalid tag: tags must be a list of strings",
    ),
    Case(
        "replace `/tags` → a tag with `/`",
        _replace("/tags", ["a/b"]),
        400,
        "IMG.0115",
        "Invalid tag: a tag may not contain '/' or control characters",
    ),
    Case(
        "replace `/tags` → 129 tags",
        _replace("/tags", [f"t{i}" for i in range(129)]),
        413,
        "IMG.0116",
        "An image may have at most 128 tags.",
    ),
]


def test_case_names_are_unique() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))


def table() -> str:
    """The error table as `docs/patch.md` holds it."""
    lines = [
        "| case | request | status | code | message |",
        "|---|---|---|---|---|",
    ]
    for c in CASES:
        message = c.message.replace("|", "\\|")
        lines.append(f"| {c.name} | {c.request()} | {c.status} | {c.code} | {message} |")
    return "\n".join(lines) + "\n"


def rules_table() -> str:
    """Which attributes PATCH may change, from the attribute registry."""
    groups: dict[str, list[str]] = {}
    for attr in REGISTRY:
        if attr.change is Change.MODIFIABLE and attr.presence is not Presence.ALWAYS:
            rule = "add, replace, remove (owner or admin)"
        elif attr.change in (Change.MODIFIABLE, Change.KEEP):
            rule = "add or replace (owner or admin); never removed"
        elif attr.change is Change.ADMIN:
            rule = "add or replace by an admin; never removed"
        elif attr.change is Change.VISIBILITY:
            rule = (
                "add or replace: `private`, `shared`, `community`; `public` by an admin; "
                "never removed"
            )
        elif attr.change in (Change.READ_ONLY, Change.FIXED):
            rule = "403 `Attribute '…' is read-only.`"
        else:
            rule = "403 `Attribute '…' is reserved.`"
        groups.setdefault(rule, []).append(f"`{attr.name}`")
    lines = ["| attributes | what PATCH may do |", "|---|---|"]
    lines += [f"| {', '.join(names)} | {rule} |" for rule, names in groups.items()]
    lines.append(
        "| any other name (a custom property; a string) | add, replace, remove (owner or admin); "
        "names starting `os_glance_` are reserved |"
    )
    return "\n".join(lines) + "\n"


def test_the_docs_tables_are_these_tables() -> None:
    text = DOCS.read_text(encoding="utf-8")
    hint = "docs/patch.md is out of date: python -m tests.api.test_patch_errors"
    assert rules_table() in text, hint
    assert table() in text, hint


@pytest.fixture(scope="module", params=BACKENDS)
def scene(request: pytest.FixtureRequest) -> Iterator[Scene]:
    """One set of images per backend for all cases: a refused patch changes nothing, and
    every case checks exactly that, so the cases can share it."""
    # refusals are requests and responses only: the application in this process serves them
    server = shared_server(request, request.param, auth=False, in_process=True)
    assert isinstance(server, Server)
    with callers(server) as built:
        owner, admin = built.clients["owner"], built.clients["admin"]
        own = owner.post("/v2/images", json={"name": "img", "team": "blue", "tags": ["a"]})
        shared = owner.post("/v2/images", json={"name": "shared"})
        public = admin.post("/v2/images", json={"name": "pub", "visibility": "public"})
        community = owner.post("/v2/images", json={"name": "com", "visibility": "community"})
        for r in (own, shared, public, community):
            assert r.status_code == 201, r.text
        sid = shared.json()["id"]
        assert owner.post(f"/v2/images/{sid}/members", json={"member": "p2"}).status_code == 200
        built.freeze(
            {
                "own": own.json()["id"],
                "shared": sid,
                "public": public.json()["id"],
                "community": community.json()["id"],
            }
        )
        yield built


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_patch_refusal(scene: Scene, case: Case) -> None:
    image_id = scene.ids.get(case.target, case.target)
    content = case.body if isinstance(case.body, bytes) else json.dumps(case.body).encode()
    headers = {"Content-Type": case.content_type} if case.content_type else {}
    r = scene.clients[case.caller].patch(f"/v2/images/{image_id}", content=content, headers=headers)
    assert r.status_code == case.status, r.text
    assert r.json() == {
        "error": {
            "message": case.message.format(id=image_id) if "{id}" in case.message else case.message,
            "code": case.code,
            "title": r.reason_phrase,
        }
    }
    if case.status == 415:
        assert r.headers["accept-patch"] == f"{V20}, {V21}"
    assert scene.snapshot() == scene.documents  # nothing changed, not even updated_at


if __name__ == "__main__":
    print(rules_table())
    print(table(), end="")
