"""JSON Patch for images: parsed and applied by one set of rules for every face that updates an
image, each face a `Policy`.

The Glance face (`PATCH /v2/images/{id}`, `GLANCE`) speaks the two Glance dialects; the
`Content-Type` picks one, and they differ only in the shape of an operation:
- `application/openstack-images-v2.1-json-patch`: `{"op": "replace", "path": "/name", "value": "x"}`
  (RFC 6902). python-glanceclient computes its patches with `jsonpatch`, which turns "remove
  one property, add another with the same value" into `{"op": "move", "from": …, "path": …}`,
  so `move` is accepted too (as a remove followed by an add).
- `application/openstack-images-v2.0-json-patch`: `{"replace": "/name", "value": "x"}`, the
  operation is the key.

The IMS face (`PATCH /v2/cloudimages/{id}`, `IMS`) takes the v2.1 shape without `move`, as
`application/json`, and narrows what may change (active images, the attributes IMS lists,
lower-case extension names); its refusals render as IMS answers them (`openims.errors`).

`parse` checks everything that does not depend on the image (the body's shape, the operations,
the JSON pointers), `admit` whether the caller may patch this image at all, and `apply` checks
each operation against the current document and the attribute registry's `Change` rule. IMS
lets a patch change only the name, the description and custom attributes, plus the attributes
the registry marks as changeable. `apply` works on a copy and raises at the first refusal, so a
patch is applied whole or not at all; the store writes the result in the transaction that
holds the image's lock.

Rules where the two dialects differ (measured on Glance, and read in its `_do_add`): `add` of
an attribute the image already has replaces it in v2.1 and is a 409 in v2.0. In v2.0 that
includes the attributes every image has (`name`, `tags`, …): Glance asks
`hasattr(image, name)`, true for every base attribute, so those are changed with `replace`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from openims import errors
from openims.domain import access, documents, registry, times
from openims.domain.access import Caller, ImageAccess
from openims.domain.documents import Document
from openims.domain.registry import Attribute, Change, Presence

V20 = "application/openstack-images-v2.0-json-patch"
V21 = "application/openstack-images-v2.1-json-patch"
V21_OPERATIONS = ("add", "remove", "replace", "move")
V20_OPERATIONS = ("add", "remove", "replace")
_BAD_ESCAPE = re.compile(r"~([^01]|$)")


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one media type spells an operation, and what its `add` does to a present attribute."""

    media_type: str
    operations: tuple[str, ...]
    op_is_key: bool = False  # v2.0: `{"replace": "/name", …}`; else `{"op": …, "path": …}`
    add_replaces: bool = True  # False: `add` of a present attribute, base ones too, is 409


@dataclass(frozen=True, slots=True)
class Policy:
    """What one face's PATCH accepts, beyond the rules every face shares (the registry's
    `Change` rules and value checks, all-or-nothing, `updated_at`, the lock)."""

    api: str  # how the 415 message names the API
    dialects: tuple[Dialect, ...]  # in the order the 415 message lists their media types
    # only registered attributes marked `ims_update` may change (others: 400 IMG.0105)
    ims_updatable_only: bool = False
    # a new custom (extension) attribute's name may not contain upper-case letters
    lower_case_names: bool = False
    # only `active` images may change (others: 400 IMG.0046)
    active_only: bool = False
    # the refusal for a caller that sees the image but neither owns it nor is an admin;
    # None: Glance's `modify_image` 403, which a read-only caller always gets
    not_owner: errors.ErrorSpec | None = None

    @property
    def media_types(self) -> tuple[str, ...]:
        return tuple(d.media_type for d in self.dialects)

    def dialect(self, content_type: str | None) -> Dialect:
        """The dialect a `Content-Type` header names (parameters and case ignored); 415 for
        any other media type."""
        media = (content_type or "").split(";", 1)[0].strip().lower()
        for dialect in self.dialects:
            if dialect.media_type == media:
                return dialect
        raise errors.UNSUPPORTED_MEDIA_TYPE(
            media_type=media or "(none)",
            expected=f"{self.api} expects Content-Type one of: {', '.join(self.media_types)}",
        )


GLANCE = Policy(
    api="Image PATCH",
    dialects=(
        Dialect(V20, V20_OPERATIONS, op_is_key=True, add_replaces=False),
        Dialect(V21, V21_OPERATIONS),
    ),
)

# The IMS update API (`PATCH /v2/cloudimages/{id}`, "Updating Image Information"): a JSON array
# of `{"op", "path", "value"}` sent as `application/json` (what the SDK's `update_image`
# sends), ops add, replace and remove; only active images; only the attributes its
# documentation lists, and the user's own extension attributes, lower-case; IMS error codes.
IMS = Policy(
    api="The IMS image update",
    dialects=(Dialect("application/json", ("add", "remove", "replace")),),
    ims_updatable_only=True,
    lower_case_names=True,
    active_only=True,
    not_owner=errors.OWNER_ONLY,
)


@dataclass(frozen=True, slots=True)
class Operation:
    """One parsed operation. `name` is the attribute it writes (the decoded pointer), `source`
    the attribute a `move` takes its value from."""

    op: str
    name: str
    value: Any = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Patch:
    policy: Policy
    dialect: Dialect
    operations: tuple[Operation, ...]


def parse(policy: Policy, dialect: Dialect, body: Any, *, max_operations: int) -> Patch:
    """The operations of a decoded JSON body, or a 400 naming the first thing wrong."""
    if not isinstance(body, list):
        raise errors.PATCH_NOT_A_LIST()
    if len(body) > max_operations:
        raise errors.PATCH_TOO_MANY_OPERATIONS(limit=max_operations, count=len(body))
    return Patch(policy, dialect, tuple(_operation(dialect, raw) for raw in body))


def _show(value: Any) -> str:
    """A JSON value as it appears in a message: strings bare, anything else as JSON."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _operation(dialect: Dialect, raw: Any) -> Operation:
    if not isinstance(raw, dict):
        raise errors.PATCH_OPERATION_NOT_OBJECT()
    if dialect.op_is_key:
        named = [key for key in dialect.operations if key in raw]
        if not named:
            raise errors.PATCH_V20_OP_NONE()
        if len(named) > 1:
            raise errors.PATCH_V20_OP_MANY()
        op = named[0]
        pointer = raw[op]
    else:
        available = ", ".join(dialect.operations)
        if "op" not in raw:
            raise errors.PATCH_OP_MISSING(available=available)
        op = raw["op"]
        if not isinstance(op, str) or op not in dialect.operations:
            raise errors.PATCH_OP_INVALID(op=_show(op), available=available)
        if "path" not in raw:
            raise errors.PATCH_PATH_MISSING(member="path")
        pointer = raw["path"]
    name = decode_pointer(pointer)
    source = None
    if op == "move":
        if "from" not in raw:
            raise errors.PATCH_VALUE_MISSING(op=op, member="from")
        source = decode_pointer(raw["from"])
    value = None
    if op in ("add", "replace"):
        if "value" not in raw:
            raise errors.PATCH_VALUE_MISSING(op=op, member="value")
        value = raw["value"]
    return Operation(op, name, value, source)


def decode_pointer(pointer: Any) -> str:
    """The attribute name a JSON pointer names. Images are flat: exactly one reference token,
    with `~1` for `/` and `~0` for `~` (RFC 6901). `/tags/-` (an array index) is refused, as
    Glance refuses it: `/tags` replaces the whole list."""
    if not isinstance(pointer, str) or not pointer.startswith("/"):
        raise errors.POINTER_NO_LEADING_SLASH(pointer=_show(pointer))
    if "//" in pointer:
        raise errors.POINTER_ADJACENT_SLASHES(pointer=pointer)
    if len(pointer) > 1 and pointer.endswith("/"):
        raise errors.POINTER_TRAILING_SLASH(pointer=pointer)
    if pointer == "/":
        raise errors.POINTER_NO_TOKEN(pointer=pointer)
    if _BAD_ESCAPE.search(pointer):
        raise errors.POINTER_BAD_ESCAPE(pointer=pointer)
    tokens = pointer[1:].split("/")
    if len(tokens) != 1:
        raise errors.POINTER_TOO_DEEP(pointer=pointer)
    return tokens[0].replace("~1", "/").replace("~0", "~")


# --- applying ------------------------------------------------------------------------------
def admit(policy: Policy, caller: Caller, image: ImageAccess, doc: Document) -> None:
    """Whether `caller` may patch this image at all, before any operation is judged: a tenant
    that cannot see it gets the 404 of a missing image (it never learns that the image
    exists), one that sees but does not own it (or a reader) 403, and then the image must be
    in a status the face updates."""
    image_id = doc["id"]
    access.require_visible(caller, image, image_id)
    if not access.can_modify(caller, image):
        if policy.not_owner is not None and not caller.read_only:
            raise policy.not_owner(image_id=image_id)
        raise errors.FORBIDDEN_ACTION(action="modify_image")
    if policy.active_only and doc.get("status") != "active":
        raise errors.IMAGE_NOT_ACTIVE(image_id=image_id, status=doc.get("status"))


def apply(doc: Document, patch: Patch, caller: Caller, *, now: int) -> Document | None:
    """The document after every operation of `patch`, canonical and with `updated_at` moved
    on; None when the patch changes nothing (`[]`, or values equal to the current ones), so
    an idle patch writes nothing and keeps `updated_at`.

    The caller has already been allowed to modify the image (`admit`); this checks what each
    operation does, by the rules of `patch.policy`. Raises ApiError at the first refusal;
    `doc` is never changed."""
    work = dict(doc)
    policy = patch.policy
    for operation in patch.operations:
        if operation.op == "remove":
            _remove(work, operation.name, caller, policy)
        elif operation.op == "move":
            assert operation.source is not None
            value = _remove(work, operation.source, caller, policy)
            _put(work, operation.name, value, caller, policy, must_exist=False, may_exist=True)
        else:
            _put(
                work,
                operation.name,
                operation.value,
                caller,
                policy,
                must_exist=operation.op == "replace",
                may_exist=operation.op == "replace" or patch.dialect.add_replaces,
            )
    if work == doc:
        return None
    documents.check_coexistence(work, doc)
    if work.get("visibility") != doc.get("visibility") and work.get("__imagetype") in (
        "gold",
        "private",
        "shared",
    ):
        work["__imagetype"] = documents.imagetype_for(work.get("visibility"))
    work["updated_at"] = times.later(doc.get("updated_at"), now)
    # every value the patch wrote was checked by the API's rules (`_checked`); the others
    # are the stored ones, which may be what an import took (a name outside IMS's alphabet)
    return documents.canonical(work, stored=True)


def _writable(name: str, caller: Caller, policy: Policy) -> Attribute | None:
    """The registered attribute `name` if the caller may write it; None for a custom
    property (anyone who may modify the image may write those). Refused otherwise: 403 (400
    on the IMS face, which also refuses the attributes IMS does not list as updatable)."""
    attr = registry.get(name)
    if attr is None:
        if name.startswith(registry.RESERVED_PREFIXES):
            raise errors.ATTRIBUTE_RESERVED(name=name)
        return None
    if attr.change in (Change.READ_ONLY, Change.FIXED):
        raise errors.ATTRIBUTE_READ_ONLY(name=name)
    if attr.change is Change.RESERVED:
        raise errors.ATTRIBUTE_RESERVED(name=name)
    if policy.ims_updatable_only and not attr.ims_update:
        raise errors.ATTRIBUTE_NOT_UPDATABLE(name=name)
    if attr.change is Change.ADMIN and not caller.is_admin:
        raise errors.ADMIN_ONLY_ATTRIBUTE(label=name.capitalize())
    return attr


def _remove(work: Document, name: str, caller: Caller, policy: Policy) -> Any:
    """Take `name` out of the document and return its value."""
    attr = _writable(name, caller, policy)
    if attr is not None and (
        attr.presence is Presence.ALWAYS or attr.change is not Change.MODIFIABLE
    ):
        raise errors.PROPERTY_NOT_REMOVABLE(name=name)
    if name not in work:
        raise errors.PROPERTY_MISSING(name=name)
    return work.pop(name)


def _put(
    work: Document,
    name: str,
    value: Any,
    caller: Caller,
    policy: Policy,
    *,
    must_exist: bool,
    may_exist: bool,
) -> None:
    attr = _writable(name, caller, policy)
    present = name in work  # attributes every image has are always present
    if must_exist and not present:
        raise errors.PROPERTY_MISSING(name=name)
    if present and not may_exist:
        raise errors.PROPERTY_PRESENT(name=name)
    if attr is None and not present and policy.lower_case_names and name != name.lower():
        raise errors.INVALID_FIELD(
            name=name[:64], reason="an extension attribute name may not contain upper-case letters"
        )
    work[name] = _checked(attr, name, value, caller)


def _checked(attr: Attribute | None, name: str, value: Any, caller: Caller) -> Any:
    """The value to store, checked against the registry. Integers may come as strings: the
    IMS SDK declares every patch value a string and sends `"2048"`."""
    if value is None:
        raise errors.NULL_VALUE(name=name)
    if attr is None:
        return documents.check_custom(name, value)
    checked = documents.check_value(attr, value, coerce=True)
    if attr.change is Change.VISIBILITY and checked == "public" and not caller.is_admin:
        raise errors.FORBIDDEN_ACTION(action="publicize_image")
    return checked
