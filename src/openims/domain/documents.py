"""Image documents: the JSON object `GET /v2/images/{id}` returns, as one plain dict.

A document is the whole state of an image (tags included, members excluded), so it is what
the store keeps and what the API sends back byte for byte. This module checks values against
the attribute registry, fills in the attributes every document carries, and puts the keys in
one canonical order, so that the same image always renders to the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from openims import errors
from openims.domain import registry, times
from openims.domain.registry import Attribute, Change, Kind, Presence

Document = dict[str, Any]

# IMS name rule: letters, digits, Chinese characters, spaces, '-', '.', '_'; no space at
# either end. `\w` would also admit other scripts' letters, which IMS does not.
_NAME_CHARS = re.compile(r"[A-Za-z0-9\u4e00-\u9fff\-._ ]+")
_TAG_CHARS = re.compile(r"[^\x00-\x1f\x7f/]+")
MAX_TAGS = 128
MAX_TAG_LENGTH = 255
_PATTERNS = {a.name: re.compile(a.pattern) for a in registry.REGISTRY if a.pattern}
_ABSENT = object()
# IMS's native create leaves an image without an OS version at this one
DEFAULT_OS_VERSION = "Other Linux(64 bit)"


def _invalid(attr: Attribute, reason: str) -> errors.ApiError:
    spec = errors.CATALOGUE[attr.error] if attr.error else errors.INVALID_FIELD
    return spec(name=attr.name, reason=reason)


_NAME = registry.BY_NAME["name"]


def check_name(value: Any, *, stored: bool = False) -> str | None:
    """A name written through the API follows IMS's rule: 1-128 characters of its alphabet.
    A `stored` name, one a catalog already holds (an import of another region's or Glance's
    catalog, or the current name of an image a patch rewrites), is what Glance stores: any
    string of up to 255 characters (without NUL, which PostgreSQL text cannot hold)."""
    if value is None:
        return None
    if not isinstance(value, str):  # not a name at all (IMG.0062), rather than a bad one
        raise errors.NAME_INCORRECT()
    if stored:
        if _NAME.max_length is not None and len(value) > _NAME.max_length:
            raise errors.INVALID_FIELD(
                name="name", reason=f"longer than {_NAME.max_length} characters"
            )
        if "\x00" in value:
            raise errors.INVALID_FIELD(name="name", reason="a NUL character is not allowed")
        return value
    if _NAME.api_max_length is not None and len(value) > _NAME.api_max_length:
        raise errors.NAME_TOO_LONG()
    if not value or value != value.strip(" ") or not _NAME_CHARS.fullmatch(value):
        raise errors.INVALID_NAME()
    return value


def check_description(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.INVALID_DESCRIPTION()
    if len(value) > 1024:
        raise errors.DESCRIPTION_TOO_LONG()
    if any(c in value for c in "\r\n<>\x00"):
        raise errors.INVALID_DESCRIPTION()
    return value


def check_tag(tag: Any) -> str:
    if not isinstance(tag, str):
        raise errors.INVALID_TAG(reason="a tag must be a string")
    if not tag or len(tag) > MAX_TAG_LENGTH:
        raise errors.INVALID_TAG(reason=f"a tag must be 1-{MAX_TAG_LENGTH} characters long")
    if not _TAG_CHARS.fullmatch(tag):
        raise errors.INVALID_TAG(reason="a tag may not contain '/' or control characters")
    return tag


def check_tags(value: Any) -> list[str]:
    """A tag list without repeats, in first-seen order."""
    if not isinstance(value, list | tuple):
        raise errors.INVALID_TAG(reason="tags must be a list of strings")
    tags = list(dict.fromkeys(check_tag(t) for t in value))
    if len(tags) > MAX_TAGS:
        raise errors.TOO_MANY_TAGS(limit=MAX_TAGS)
    return tags


def check_value(attr: Attribute, value: Any, *, coerce: bool = False, stored: bool = False) -> Any:
    """The value `attr` takes from `value`, or a 400 naming the attribute.

    `coerce` accepts the string forms of integers, as the IMS SDK sends every patch value as
    a string ("2048"). `stored` checks a value a catalog already holds rather than one
    written through the API (`check_name`)."""
    if attr.name == "name":
        return check_name(value, stored=stored)
    if attr.name == "__description":
        return check_description(value)
    if attr.kind is Kind.TAGS:
        return check_tags(value)
    if value is None:
        if attr.nullable:
            return None
        raise _invalid(attr, "null is not allowed")
    if attr.kind is Kind.INTEGER:
        if coerce and isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,12}", value):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _invalid(attr, f"{value!r} is not of type 'integer'")
        if attr.minimum is not None and value < attr.minimum:
            raise _invalid(attr, f"{value} is less than the minimum of {attr.minimum}")
        if attr.maximum is not None and value > attr.maximum:
            raise _invalid(attr, f"{value} is greater than the maximum of {attr.maximum}")
        return value
    if attr.kind is Kind.BOOLEAN:
        if not isinstance(value, bool):
            raise _invalid(attr, f"{value!r} is not of type 'boolean'")
        return value
    if attr.kind is Kind.DATETIME:
        if not isinstance(value, str):
            raise _invalid(attr, f"{value!r} is not a time like 2018-09-06T14:03:27Z")
        try:
            times.parse(value)
        except ValueError as exc:
            raise _invalid(attr, str(exc)) from None
        return value
    if attr.kind is Kind.STRING:
        if coerce and attr.pattern and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise _invalid(attr, f"{value!r} is not of type 'string'")
        if "\x00" in value:  # PostgreSQL text cannot hold it; SQLite would
            raise _invalid(attr, "a NUL character is not allowed")
        if attr.enum is not None and value not in attr.enum:
            raise _invalid(attr, f"{value!r} is not one of {list(attr.enum)}")
        if attr.max_length is not None and len(value) > attr.max_length:
            raise _invalid(attr, f"longer than {attr.max_length} characters")
        pattern = _PATTERNS.get(attr.name)
        if pattern is not None and not pattern.fullmatch(value):
            raise _invalid(attr, f"{value!r} does not match '{attr.pattern}'")
        if attr.minimum is not None and int(value) < attr.minimum:  # a number kept as digits
            raise _invalid(attr, f"{value!r} is less than the minimum of {attr.minimum}")
        if attr.maximum is not None and int(value) > attr.maximum:
            raise _invalid(attr, f"{value!r} is greater than the maximum of {attr.maximum}")
        return value
    raise _invalid(attr, "this attribute cannot be set")


def check_coexistence(doc: Mapping[str, Any], before: Mapping[str, Any] | None = None) -> None:
    """Refuse a document holding two attributes the registry says cannot co-exist (IMS: a GPU
    type with `__support_xen` or `__support_kvm`), 409/400 IMG.0035.

    With `before`, only a pair of which the write set or changed one side is refused: an image
    imported with both keeps them, and a patch that renames it is not blamed for them."""
    for name, other in registry.EXCLUSIONS:
        if name not in doc or other not in doc:
            continue
        if before is None or any(before.get(n, _ABSENT) != doc[n] for n in (name, other)):
            raise errors.ATTRIBUTE_CONFLICT(name=name, other=other)


def check_custom(name: str, value: Any, *, reserved: bool = False) -> str:
    """Custom properties are strings, as in Glance's `additionalProperties`. Names of
    Glance's reserved prefix (`os_glance_`) only with `reserved`: in a stored document, where
    the server itself put them (an import's `os_glance_import_task`…)."""
    if not reserved and any(name.startswith(p) for p in registry.RESERVED_PREFIXES):
        raise errors.ATTRIBUTE_RESERVED(name=name)
    if not name or len(name) > registry.CUSTOM_NAME_MAX or not name.isprintable():
        raise errors.INVALID_FIELD(
            name=name[:64], reason="a property name is 1-255 printable characters"
        )
    if not isinstance(value, str):
        raise errors.INVALID_FIELD(name=name, reason=f"{value!r} is not of type 'string'")
    if "\x00" in value:  # PostgreSQL text cannot hold it; SQLite would
        raise errors.INVALID_FIELD(name=name, reason="a NUL character is not allowed")
    if len(value) > registry.CUSTOM_VALUE_MAX:
        raise errors.INVALID_FIELD(
            name=name, reason=f"longer than {registry.CUSTOM_VALUE_MAX} characters"
        )
    return value


def links(image_id: str) -> dict[str, str]:
    return {
        "self": f"/v2/images/{image_id}",
        "file": f"/v2/images/{image_id}/file",
        "schema": "/v2/schemas/image",
    }


_LINK = object()  # what a link attribute's check returns: it is derived from the id instead
_REQUIRED = object()  # the fill of an always-present attribute that has no default


def _checker(attr: Attribute, *, stored: bool = False) -> Callable[[Any], Any]:
    """`check_value(attr, ·)` as `canonical` calls it for every key of every document, with
    the common case first: a value of the attribute's type that is valid as it is comes back
    after the few comparisons that decide it. Anything else (None, another type, a refusal)
    goes to `check_value`, which decides it and says what is wrong; the shortcut never
    accepts what `check_value` would refuse or change (tests/unit/test_documents.py).
    `stored` is passed on to `check_value`."""
    if attr.kind is Kind.LINK:
        return lambda _v: _LINK
    if attr.presence is Presence.NEVER:

        def refuse(_value: Any) -> Any:
            raise errors.ATTRIBUTE_READ_ONLY(name=attr.name)

        return refuse

    def full(v: Any) -> Any:
        return check_value(attr, v, stored=stored)

    if attr.name in ("name", "__description") or attr.kind is Kind.TAGS:
        return full
    low, high = attr.minimum, attr.maximum
    if attr.kind is Kind.INTEGER:
        return lambda v: (
            v
            if type(v) is int and (low is None or v >= low) and (high is None or v <= high)
            else full(v)
        )
    if attr.kind is Kind.BOOLEAN:
        return lambda v: v if v is True or v is False else full(v)
    if attr.kind is Kind.DATETIME:
        return lambda v: v if type(v) is str and times.valid(v) else full(v)
    if attr.kind is not Kind.STRING or low is not None or high is not None:
        return full
    pattern = _PATTERNS.get(attr.name)
    longest = attr.max_length
    if attr.enum is not None:
        allowed = frozenset(
            e
            for e in attr.enum
            if "\x00" not in e
            and (longest is None or len(e) <= longest)
            and (pattern is None or pattern.fullmatch(e))
        )
        return lambda v: v if type(v) is str and v in allowed else full(v)
    return lambda v: (
        v
        if type(v) is str
        and "\x00" not in v
        and (longest is None or len(v) <= longest)
        and (pattern is None or pattern.fullmatch(v) is not None)
        else full(v)
    )


# Built once from the registry, as the API checks values and as a catalog holds them
# (`stored`): `canonical` runs for every image an import or a write checks.
_CHECKS: dict[bool, dict[str, Callable[[Any], Any]]] = {
    stored: {a.name: _checker(a, stored=stored) for a in registry.REGISTRY}
    for stored in (False, True)
}
# (name, is a link, what fills it when absent: _ABSENT for none, _REQUIRED, or the default)
_LAYOUT: tuple[tuple[str, bool, Any], ...] = tuple(
    (
        a.name,
        a.kind is Kind.LINK,
        _ABSENT
        if a.presence is not Presence.ALWAYS
        else (_REQUIRED if a.default is None and not a.nullable else a.default),
    )
    for a in registry.rendered()
)


def canonical(doc: Mapping[str, Any], *, stored: bool = False) -> Document:
    """`doc` with every key checked, the always-present attributes filled in and the keys in
    registry order, custom properties last and sorted. Links are recomputed from the id.

    `stored` checks the values as a catalog may hold them (an import; a document a patch or
    a tag change rewrites, whose new values were checked on their way in) rather than as the
    API takes them: the name is then any string of up to 255 characters (`check_name`).

    Raises ApiError (400/403) for the first bad attribute."""
    image_id = doc.get("id")
    if not isinstance(image_id, str):
        raise errors.INVALID_FIELD(name="id", reason="an image needs an id")
    out: Document = {}
    custom: dict[str, str] = {}
    checks = _CHECKS[stored]
    for name, value in doc.items():
        check = checks.get(name)
        if check is None:
            custom[name] = check_custom(name, value, reserved=stored)
        else:
            checked = check(value)
            if checked is not _LINK:
                out[name] = checked
    ordered: Document = {}
    image_links = links(image_id)
    for name, link, fill in _LAYOUT:
        if link:
            ordered[name] = image_links[name]
        elif name in out:
            ordered[name] = out[name]
        elif fill is not _ABSENT:
            if fill is _REQUIRED:
                raise errors.INVALID_FIELD(name=name, reason="this attribute is required")
            ordered[name] = list(fill) if isinstance(fill, tuple) else fill
    for name in sorted(custom):
        ordered[name] = custom[name]
    return ordered


@dataclass(frozen=True)
class _Plan:
    """How `canonical_many` makes the canonical form of documents with the same keys in the
    same order (a shape): the checks of their keys, and the output's keys in order."""

    # each non-link key with its check, and whether the check makes a new value (the tags:
    # without repeats) rather than only accepting or refusing the value
    checks: tuple[tuple[str, Callable[[Any], Any], bool], ...]
    names: tuple[str, ...]  # the canonical document's keys, in order
    fills: dict[str, Any]  # absent always-present attributes and their defaults
    in_order: bool  # the shape is `names`: a canonical document's own keys
    listed: tuple[tuple[str, tuple[Any, ...]], ...]  # absent ones whose default is a new list


# Shapes seen by `canonical_many`, with their plans; emptied when full, so that an input of
# ever new shapes costs memory no more than a bounded number of plans.
_PLANS: dict[tuple[tuple[str, ...], bool], _Plan | None] = {}
_MAX_PLANS = 1024


def _custom_check(name: str, *, stored: bool) -> Callable[[Any], Any]:
    return lambda value: check_custom(name, value, reserved=stored)


def _kind(name: str) -> Kind | None:
    attr = registry.BY_NAME.get(name)
    return None if attr is None else attr.kind


def _plan(shape: tuple[str, ...], *, stored: bool) -> _Plan | None:
    """The plan of documents whose keys are `shape`; None where `canonical` refuses them
    whatever their values (no id, a required attribute missing, a read-only one present)
    or makes a key of two (an attribute given twice is not a shape a dict can have)."""
    key = (shape, stored)
    if key in _PLANS:
        return _PLANS[key]
    if len(_PLANS) >= _MAX_PLANS:
        _PLANS.clear()
    checks = _CHECKS[stored]
    present = set(shape)
    plan: _Plan | None = None
    if "id" in present and not any(
        registry.BY_NAME[n].presence is Presence.NEVER for n in present if n in registry.BY_NAME
    ):
        names: list[str] = []
        fills: dict[str, Any] = {}
        listed: list[tuple[str, tuple[Any, ...]]] = []
        required_missing = False
        for name, link, fill in _LAYOUT:
            if link or name in present:
                names.append(name)
            elif fill is _REQUIRED:
                required_missing = True
            elif fill is not _ABSENT:
                names.append(name)
                if isinstance(fill, tuple):
                    listed.append((name, fill))
                else:
                    fills[name] = fill
        custom = sorted(n for n in shape if n not in checks)
        if not required_missing:
            plan = _Plan(
                checks=tuple(
                    (n, checks.get(n) or _custom_check(n, stored=stored), _kind(n) is Kind.TAGS)
                    for n in shape
                    if _kind(n) is not Kind.LINK
                ),
                names=(*names, *custom),
                fills=fills,
                listed=tuple(listed),
                in_order=(*names, *custom) == shape,
            )
    _PLANS[key] = plan
    return plan


def _made(check: Callable[[Any], list[Any]], values: list[Any]) -> list[list[Any]]:
    """`[check(v) for v in values]` for a check that makes a new list of a list (the tags),
    made once for each distinct list of strings (the check refuses any other element, and
    a str equals only a str), each document getting a list of its own."""
    made: dict[tuple[Any, ...], list[Any]] = {}
    results = []
    for value in values:
        if type(value) is not list:
            results.append(check(value))
            continue
        key = tuple(value)
        try:
            found = made.get(key)
        except TypeError:  # an element that cannot be hashed: the check refuses it
            results.append(check(value))
            continue
        if found is None:
            found = made[key] = check(value)
        results.append(list(found))
    return results


def _distinct(values: list[Any]) -> Iterable[Any]:
    """The values a check must see for every value of `values` to be checked: each distinct
    one, told apart by type too (True == 1, yet a count refuses True), or every value when
    some cannot be hashed."""
    try:
        if len(set(map(type, values))) == 1:
            return set(values)
        return [value for _type, value in set(zip(map(type, values), values, strict=True))]
    except TypeError:
        return values


class _Refused(Exception):
    """A shape that `canonical` refuses: it is run to say why."""


def canonical_many(docs: Sequence[Mapping[str, Any]], *, stored: bool = False) -> list[Document]:
    """`[canonical(doc, stored=stored) for doc in docs]`, made column by column: an import
    checks a million documents, and in a catalog most values repeat (a status, a format, an
    OS) and most documents have the same keys in the same order. The documents of each such
    shape have each key's distinct values checked once, and are laid out by one plan.

    Every check is `canonical`'s own, and a check changes no value but the tags (it accepts
    or refuses), so the result is `canonical`'s. Where a document is refused, `canonical`
    itself runs over the documents in order, to raise what it raises for the first bad one."""
    shapes: dict[tuple[str, ...], list[int]] = {}
    for n, doc in enumerate(docs):
        shapes.setdefault(tuple(doc), []).append(n)
    out: list[Document] = [{} for _ in docs]
    try:
        plans = []
        # each key's check, and its values in every document that has it, with their indexes
        columns: dict[str, tuple[Callable[[Any], Any], bool, list[Any], list[int]]] = {}
        for shape, indexes in shapes.items():
            plan = _plan(shape, stored=stored)
            if plan is None:
                raise _Refused
            plans.append((plan, indexes))
            for name, check, makes_new in plan.checks:
                column = columns.setdefault(name, (check, makes_new, [], []))
                column[2].extend([docs[n][name] for n in indexes])
                column[3].extend(indexes)
        new_values: list[tuple[str, list[int], list[Any]]] = []
        for name, (check, makes_new, values, indexes) in columns.items():
            if makes_new:
                new_values.append((name, indexes, _made(check, values)))
            else:
                for value in _distinct(values):
                    check(value)
        for plan, indexes in plans:
            for n in indexes:
                doc = docs[n]
                if plan.in_order:  # the keys of a canonical document: only its links change
                    ordered = dict(doc)
                else:
                    ordered = dict.fromkeys(plan.names)
                    ordered.update(doc)
                    ordered.update(plan.fills)
                    for name, fill in plan.listed:
                        ordered[name] = list(fill)
                ordered.update(links(doc["id"]))
                out[n] = ordered
        for name, indexes, results in new_values:
            for n, result in zip(indexes, results, strict=True):
                out[n][name] = result
    except Exception:  # canonical raises what is wrong, or agrees
        return [canonical(doc, stored=stored) for doc in docs]
    return out


def render(doc: Mapping[str, Any]) -> bytes:
    return orjson.dumps(doc)


def parse(data: bytes | str) -> Document:
    loaded = orjson.loads(data)
    assert isinstance(loaded, dict)
    return loaded


def custom_properties(doc: Mapping[str, Any]) -> dict[str, str]:
    return {k: v for k, v in doc.items() if k not in registry.BY_NAME}


def new_image(
    fields: Mapping[str, Any], *, image_id: str, owner: str, now: int, is_admin: bool
) -> Document:
    """The document of an image created with `POST /v2/images` from the body `fields`.

    Common users may only create private (or shared) images of their own; admins may also
    create public `gold` images and name another owner. Read-only attributes are refused by
    name, as Glance does."""
    doc: Document = {}
    for name, value in fields.items():
        attr = registry.get(name)
        if attr is not None and attr.change in (Change.READ_ONLY,) and name != "id":
            raise errors.ATTRIBUTE_READ_ONLY(name=name)
        if name == "owner" and not is_admin and value != owner:
            raise errors.FORBIDDEN_ACTION(action="add_image (owner)")
        doc[name] = value
    visibility = doc.get("visibility", "private")
    imagetype = doc.get("__imagetype")
    if not is_admin and (visibility == "public" or imagetype in ("gold", "market")):
        raise errors.FORBIDDEN_ACTION(action="publicize_image")
    if "__imagetype" not in doc:
        doc["__imagetype"] = imagetype_for(visibility)
    stamp = times.render(now)
    doc.setdefault("owner", owner)
    doc["id"] = image_id
    doc["created_at"] = stamp
    doc["updated_at"] = stamp
    doc.setdefault("__os_version", DEFAULT_OS_VERSION)
    check_coexistence(doc)
    return canonical(doc)


def imagetype_for(visibility: Any) -> str:
    """The IMS image type that goes with a Glance visibility (public images are `gold`)."""
    return {"public": "gold", "shared": "shared"}.get(str(visibility), "private")


@dataclass(frozen=True, slots=True)
class ImageItem:
    """An image as a bulk write takes it (import, the demo catalog): its document and its
    members as (member_id, status)."""

    doc: Document
    members: tuple[tuple[str, str], ...] = ()
