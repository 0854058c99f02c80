"""One tag model behind both faces: an image's tags are Glance's list of strings, and the IMS
tag API reads and writes the same list as `{key, value}` pairs.

IMS documents the mapping itself: its tags are stored as strings with `=` between key and value
("in the new specification, equal signs are used as separators"; older tags used `.` and are
queried as `tag=key=value`), a Glance tag (`PUT /v2/images/{id}/tags/{tag}`) is a key without
a value, and a key-only tag lists with the value `""`. So:

- IMS `{key, value}` ⇔ the Glance tag `"key=value"`; IMS `{key, ""}` ⇔ the Glance tag `"key"`;
- a Glance tag reads as IMS `{key: before the first "=", value: after it}` (no `=`: value "");
- an image holds at most one tag per key on the IMS face: setting a key replaces its tag.

So a tag set through either face is seen through the other, and `GET /v2/cloudimages?tag=k=v`
finds an image tagged `{k, v}`. The IMS rules for what it writes: a key of 1-36 letters,
digits, `_`, `-` or CJK characters; a value of 0-43 of those or `.`; at most 10 tags on an image.
Deletions and queries check only that a key is given (IMS does not check the rest there)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openims import errors

MAX_IMS_TAGS = 10  # an image can have at most 10 tags (IMS tag API)
MAX_KEY_LENGTH = 36
MAX_VALUE_LENGTH = 43
MAX_QUERY_KEY_LENGTH = 127  # deletions and queries: not checked but bounded, as IMS bounds them
MAX_QUERY_VALUE_LENGTH = 255
_KEY = re.compile(r"[0-9A-Za-z_\-\u4e00-\u9fff]+")
_VALUE = re.compile(r"[0-9A-Za-z_\-.\u4e00-\u9fff]*")


@dataclass(frozen=True, slots=True)
class Tag:
    key: str
    value: str

    def render(self) -> dict[str, str]:
        return {"key": self.key, "value": self.value}

    @property
    def glance(self) -> str:
        """The Glance tag string of this tag."""
        return f"{self.key}={self.value}" if self.value else self.key


def parse(tag: str) -> Tag:
    """The IMS reading of a stored (Glance) tag string."""
    key, _, value = tag.partition("=")
    return Tag(key, value)


def of_image(tags: list[str]) -> list[Tag]:
    return [parse(t) for t in tags]


def _string(fields: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = fields.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise errors.INVALID_TAG(reason=f"'{name}' must be a string")
    return value


def check(raw: Any) -> Tag:
    """A tag the IMS API is asked to write (`{"key", "value"}`), by IMS's rules."""
    if not isinstance(raw, dict):
        raise errors.INVALID_TAG(reason='a tag is an object {"key": ..., "value": ...}')
    key, value = _string(raw, "key"), _string(raw, "value")
    if not key or len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise errors.INVALID_TAG(
            reason=f"a key is 1-{MAX_KEY_LENGTH} letters, digits, '_', '-' or CJK characters"
        )
    if len(value) > MAX_VALUE_LENGTH or not _VALUE.fullmatch(value):
        raise errors.INVALID_TAG(
            reason=f"a value is 0-{MAX_VALUE_LENGTH} letters, digits, '_', '-', '.' "
            "or CJK characters"
        )
    return Tag(key, value)


def check_key(key: Any) -> str:
    """A key a deletion or a query names: not empty and bounded, nothing more checked."""
    if not isinstance(key, str) or not key or len(key) > MAX_QUERY_KEY_LENGTH:
        raise errors.INVALID_TAG(reason=f"a key is a string of 1-{MAX_QUERY_KEY_LENGTH} characters")
    return key


def check_list(raw: Any, *, writing: bool) -> list[Tag]:
    """The `tags` of a batch: a non-empty list with each key once."""
    if not isinstance(raw, list) or not raw:
        raise errors.INVALID_TAG(reason="'tags' must be a non-empty list of tags")
    if writing:
        found = [check(t) for t in raw]
    else:
        found = []
        for t in raw:
            if not isinstance(t, dict):
                raise errors.INVALID_TAG(reason='a tag is an object {"key": ..., "value": ...}')
            found.append(Tag(check_key(t.get("key")), ""))
    keys = [t.key for t in found]
    if len(set(keys)) != len(keys):
        raise errors.INVALID_TAG(reason="each key may appear once in 'tags'")
    return found


def batch(fields: dict[str, Any]) -> tuple[bool, list[Tag]]:
    """A `tags/action` body: whether it creates (else deletes), and its tags."""
    action = fields.get("action")
    if action not in ("create", "delete"):
        raise errors.INVALID_FIELD(name="action", reason="'create' or 'delete'")
    creating = action == "create"
    return creating, check_list(fields.get("tags"), writing=creating)


def v1_request(fields: dict[str, Any]) -> tuple[str, Tag]:
    """A `PUT /v1/cloudimages/tags` body: the image ID and the tag, given either as `tag`
    (`key.value`) or as `image_tag` (`{key, value}`), not both."""
    image_id = fields.get("image_id")
    if not isinstance(image_id, str) or not image_id:
        raise errors.INVALID_FIELD(name="image_id", reason="the ID of an image is required")
    if ("tag" in fields) == ("image_tag" in fields):
        raise errors.INVALID_TAG(reason="give either 'tag' or 'image_tag'")
    tag = v1_tag(fields["tag"]) if "tag" in fields else check(fields["image_tag"])
    return image_id, tag


def v1_tag(raw: Any) -> Tag:
    """The `tag` string of `PUT /v1/cloudimages/tags`: `key.value` (the first `.` separates
    them; none: an empty value), the form IMS documents for it."""
    if not isinstance(raw, str):
        raise errors.INVALID_TAG(reason="'tag' must be a string 'key.value'")
    key, _, value = raw.partition(".")
    return check({"key": key, "value": value})


def with_tags(current: list[str], added: list[Tag]) -> list[str]:
    """`current` with each of `added` set: a tag with the same key is replaced in place (an
    equal one is left as is), a new key is appended. At most `MAX_IMS_TAGS` tags result."""
    result = list(current)
    for tag in added:
        same = [i for i, t in enumerate(result) if parse(t).key == tag.key]
        if same:
            result[same[0]] = tag.glance
            for i in reversed(same[1:]):
                del result[i]
        else:
            result.append(tag.glance)
    if len(result) > MAX_IMS_TAGS and len(result) > len(current):
        raise errors.IMS_TOO_MANY_TAGS(limit=MAX_IMS_TAGS)
    return result


def without_keys(current: list[str], keys: set[str]) -> list[str]:
    """`current` without the tags whose key is in `keys`."""
    return [t for t in current if parse(t).key not in keys]


# --- queries ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TagCondition:
    """One `{key, values}` of a query: the key with any of the values (no values: any)."""

    key: str
    values: frozenset[str]

    def holds(self, tags: list[Tag]) -> bool:
        return any(t.key == self.key and (not self.values or t.value in self.values) for t in tags)


@dataclass(frozen=True, slots=True)
class TagQuery:
    """`POST /v2/{project_id}/images/resource_instances/action`, read."""

    count: bool
    tags: tuple[TagCondition, ...] = ()
    tags_any: tuple[TagCondition, ...] = ()
    not_tags: tuple[TagCondition, ...] = ()
    not_tags_any: tuple[TagCondition, ...] = ()
    without_any_tag: bool = False
    name: str | None = None
    name_exact: bool = False
    resource_id: str | None = None
    limit: int = 10
    offset: int = 0

    def matches(self, image_id: str, image_name: str, tags: list[Tag]) -> bool:
        if self.resource_id is not None and image_id != self.resource_id:
            return False
        if self.name is not None:
            if self.name_exact and image_name != self.name:
                return False
            if not self.name_exact and self.name not in image_name:
                return False
        if self.without_any_tag:
            return not tags
        if not all(c.holds(tags) for c in self.tags):
            return False
        if self.tags_any and not any(c.holds(tags) for c in self.tags_any):
            return False
        if self.not_tags and all(c.holds(tags) for c in self.not_tags):
            return False
        return not any(c.holds(tags) for c in self.not_tags_any)


MAX_QUERY_KEYS = 10
MAX_QUERY_VALUES = 10
MAX_LIMIT = 1000


def _conditions(fields: dict[str, Any], name: str) -> tuple[TagCondition, ...]:
    raw = fields.get(name)
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_QUERY_KEYS:
        raise errors.INVALID_FIELD(
            name=name, reason=f"a list of at most {MAX_QUERY_KEYS} {{key, values}} objects"
        )
    found: list[TagCondition] = []
    for item in raw:
        if not isinstance(item, dict):
            raise errors.INVALID_FIELD(name=name, reason="each item is a {key, values} object")
        key = check_key(item.get("key"))
        values = item.get("values", [])
        if (
            not isinstance(values, list)
            or len(values) > MAX_QUERY_VALUES
            or not all(isinstance(v, str) and len(v) <= MAX_QUERY_VALUE_LENGTH for v in values)
            or len(set(values)) != len(values)
        ):
            raise errors.INVALID_FIELD(
                name=name,
                reason=f"'values' is a list of at most {MAX_QUERY_VALUES} distinct strings",
            )
        found.append(TagCondition(key, frozenset(values)))
    if len({c.key for c in found}) != len(found):
        raise errors.INVALID_FIELD(name=name, reason="each key may appear once")
    return tuple(found)


def _whole(fields: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = fields.get(name)
    if raw is None:
        return default
    text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
    if not isinstance(text, str) or not text.isdigit() or not low <= int(text) <= high:
        raise errors.INVALID_FIELD(name=name, reason=f"a whole number from {low} to {high}")
    return int(text)


def query(fields: dict[str, Any]) -> TagQuery:
    """The body of a query by tags, checked: `action` filter or count; the tag conditions;
    `matches` (`resource_name`: a part of the name, or the exact name when the value is empty
    — as IMS documents it; `resource_id`: the image ID); `limit` 1-1000 (default 10) and
    `offset` (default 0), as strings or numbers, for `filter` only."""
    action = fields.get("action")
    if action not in ("filter", "count"):
        raise errors.INVALID_FIELD(name="action", reason="'filter' or 'count'")
    without = fields.get("without_any_tag", False)
    if not isinstance(without, bool):
        raise errors.INVALID_FIELD(name="without_any_tag", reason="true or false")
    name: str | None = None
    name_exact = False
    resource_id: str | None = None
    matches = fields.get("matches")
    if matches is not None:
        if not isinstance(matches, list):
            raise errors.INVALID_FIELD(name="matches", reason="a list of {key, value} objects")
        seen: set[str] = set()
        for m in matches:
            if not isinstance(m, dict) or m.get("key") not in ("resource_name", "resource_id"):
                raise errors.INVALID_FIELD(
                    name="matches", reason="each key is 'resource_name' or 'resource_id'"
                )
            key, value = m["key"], m.get("value")
            if key in seen or not isinstance(value, str) or len(value) > MAX_QUERY_VALUE_LENGTH:
                raise errors.INVALID_FIELD(
                    name="matches", reason="each key once, with a string value"
                )
            seen.add(key)
            if key == "resource_name":
                name, name_exact = value, value == ""
            else:
                resource_id = value
    return TagQuery(
        count=action == "count",
        tags=_conditions(fields, "tags"),
        tags_any=_conditions(fields, "tags_any"),
        not_tags=_conditions(fields, "not_tags"),
        not_tags_any=_conditions(fields, "not_tags_any"),
        without_any_tag=without,
        name=name,
        name_exact=name_exact,
        resource_id=resource_id,
        limit=_whole(fields, "limit", 10, 1, MAX_LIMIT),
        offset=_whole(fields, "offset", 0, 0, 2**31 - 1),
    )


# --- GET /v1/cloudimages/tags --------------------------------------------------------------
V1_PAGING = ("limit", "page")


def v1_page(params: Sequence[tuple[str, str]]) -> tuple[int | None, int]:
    """`limit` (1-1000; none: every tag) and `page` (1-based, default 1) of the v1 tag list,
    which page the list of tags (IMS documents the parameters, not what they count)."""
    found: dict[str, int] = {}
    for name in V1_PAGING:
        values = [v for k, v in params if k == name]
        if not values:
            continue
        if len(values) > 1 or not values[0].isdigit():
            raise errors.BAD_QUERY(reason=f"{name} must be one whole number")
        found[name] = int(values[0])
    limit = found.get("limit")
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise errors.BAD_QUERY(reason=f"limit must be from 1 to {MAX_LIMIT}")
    page = found.get("page", 1)
    if page < 1:
        raise errors.BAD_QUERY(reason="page must be at least 1")
    return limit, page
