"""List queries: what `GET /v2/cloudimages` and `GET /v2/images` ask for, parsed and checked.

Both faces parse their query strings into one `ListQuery`, which the store compiles to SQL.
Every value is checked here, before anything reaches the database: a bad value is a 400 in the
face's words. The IMS face validates the enumerations the IMS documentation lists; the Glance
face keeps Glance's leniency (an unknown status simply matches nothing).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from openims import errors
from openims.domain import registry, times
from openims.domain.access import MEMBER_STATUSES, Caller
from openims.domain.registry import Filter, Kind

Params = Sequence[tuple[str, str]]
# an order: (attribute, descending) pairs, completed to end in `id` (`complete_sort`)
Sort = tuple[tuple[str, bool], ...]

TIME_OPS = ("gt", "gte", "lt", "lte", "eq", "neq")
IMS_SORT_KEYS = ("name", "container_format", "disk_format", "status", "id", "size", "created_at")
# The older English edition of "Querying Images" spells the default sort key `create_at`.
IMS_SORT_ALIASES = {"create_at": "created_at"}
GLANCE_SORT_KEYS = (
    "name",
    "status",
    "container_format",
    "disk_format",
    "size",
    "id",
    "created_at",
    "updated_at",
)
IMS_VISIBILITIES = ("public", "private", "shared")
GLANCE_VISIBILITIES = ("public", "private", "shared", "community", "all")
IMS_DEFAULT_LIMIT = 500
GLANCE_DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
MAX_VALUE_LENGTH = 1024
_GLANCE_IN_FIELDS = ("name", "status", "id", "container_format", "disk_format")


@dataclass(frozen=True, slots=True)
class Clause:
    """One condition on an attribute. `attr` is a registry name or a custom property name.

    ops: eq, neq (NULL counts as "not equal"), gt, gte, lt, lte, in (value is a tuple),
    eq_or_null (the value, or no value at all: enterprise project `0`)."""

    attr: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class ListQuery:
    clauses: tuple[Clause, ...] = ()
    # each entry is a set of alternatives; an image must carry one tag of every entry
    tags: tuple[tuple[str, ...], ...] = ()
    visibility: str | None = None
    member_status: str | None = None
    # `visibility=shared&member_status=S` lists only the images shared with the caller in
    # status S (IMS); False keeps Glance's rule (`access.listed`)
    membership_only: bool = False
    sort: Sort = (("created_at", True), ("id", True))
    marker: str | None = None
    limit: int = IMS_DEFAULT_LIMIT
    hide_killed: bool = False
    registered_only: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Parameter:
    """A list parameter that is not an attribute filter, declared once: its name, its JSON
    schema and description (the OpenAPI description shows them) and `read`, its parser, which
    takes the whole query (a parameter may repeat, or be read together with another: the sort
    parameters share one parser)."""

    name: str
    schema: dict[str, Any]
    description: str
    read: Callable[[Params], Any]


class Parameters:
    """The declared parameters of one face's list, in the order the parser checks them."""

    def __init__(self, *declared: Parameter) -> None:
        self.declared = declared
        self.names = frozenset(p.name for p in declared)
        self._by_name = {p.name: p for p in declared}

    def reader(self, params: Params) -> Callable[[str], Any]:
        """`read(name)`: the parsed value of one declared parameter of `params`."""
        return lambda name: self._by_name[name].read(params)


def _bad(reason: str) -> errors.ApiError:
    return errors.BAD_QUERY(reason=reason)


def _one(params: Params, name: str) -> str | None:
    values = [v for k, v in params if k == name]
    if len(values) > 1:
        raise _bad(f"'{name}' may be given only once")
    return values[0] if values else None


def parse_bool(name: str, value: str) -> bool:
    """true/false, and the True/False openstacksdk sends."""
    if value in ("true", "True"):
        return True
    if value in ("false", "False"):
        return False
    raise _bad(f"Invalid value '{value}' for '{name}' filter. Valid values are 'true' or 'false'.")


def parse_time_filter(name: str, value: str) -> Clause:
    """IMS: `op:time` with op in gt gte lt lte eq neq; a bare time means eq. The time is one
    of the two formats the IMS documentation gives (`times.QUERY_FORMATS`)."""
    op, _, rest = value.partition(":")
    if op in TIME_OPS:
        text = rest
    elif re.fullmatch(r"[a-z]+", op):
        raise _bad(f"Invalid operator '{op}' for '{name}': use one of {', '.join(TIME_OPS)}")
    else:
        op, text = "eq", value
    try:
        epoch = times.parse(text, times.QUERY_FORMATS)
    except ValueError:
        raise _bad(
            f'Bad "{name}" query filter format. Use yyyy-MM-ddThh:mm:ssZ or '
            f"yyyy-MM-dd hh:mm:ss, e.g. {name}=lt:2018-10-28T10:00:00Z"
        ) from None
    return Clause(name, op, epoch)


def glance_time_clauses(name: str, value: str) -> list[Clause]:
    """Glance: `[op:]time`, read as its `split_filter_op` and `timeutils.parse_isotime` read it.

    The first colon separates the operator unless the whole value is already a time (so
    `2018-09-17T00:13:43+08:00` is `eq`). A time that is not ISO 8601 is refused before the
    operator is looked at, as Glance does; then an unknown operator."""
    op, text = "eq", value
    left, sep, right = value.partition(":")
    if sep:
        try:
            times.parse_iso8601(value)
        except ValueError:
            op, text = left, right
    try:
        at = times.parse_iso8601(text)
    except ValueError:
        raise _bad(f'Bad "{name}" query filter format. Use ISO 8601 DateTime notation.') from None
    if op not in TIME_OPS:
        raise _bad("Unable to filter on a unknown operator.")
    return _on_whole_seconds(name, op, at)


def _on_whole_seconds(name: str, op: str, at: times.Instant) -> list[Clause]:
    """`attr op at` on stored times, which are whole seconds, with `at` possibly between two.

    Rounding `at` either way would get some operator wrong, so each comparison is rewritten
    into the whole seconds that satisfy it. With s whole, f = floor(at) and at not whole:
    s > at ⟺ s > f; s ≥ at ⟺ s ≥ f + 1; s < at ⟺ s < f + 1; s ≤ at ⟺ s ≤ f; s = at never
    (no whole second lies in [f + 1, f]); s ≠ at always, so `neq` needs no clause (the store's
    `neq` keeps images without the time as well)."""
    floor = at.seconds
    if at.whole:
        return [Clause(name, op, floor)]
    return {
        "gt": [Clause(name, "gt", floor)],
        "gte": [Clause(name, "gte", floor + 1)],
        "lt": [Clause(name, "lt", floor + 1)],
        "lte": [Clause(name, "lte", floor)],
        "eq": [Clause(name, "gte", floor + 1), Clause(name, "lte", floor)],
        "neq": [],
    }[op]


def python_int(text: str) -> int | None:
    """`int(text)` as Glance applies it to `limit` and the `_min`/`_max` ranges: surrounding
    whitespace, a sign, `_` between digits and any Unicode decimal digits are accepted (Python 3
    rules); None where int() raises. Python itself refuses texts of more than 4300 digits."""
    try:
        return int(text)
    except ValueError:
        return None


def parse_limit(value: str | None, default: int, *, strict: bool) -> int:
    """IMS (strict) takes plain digits and refuses a limit above the maximum; Glance reads the
    limit with int() and silently caps it."""
    if value is None:
        return default
    if strict:
        limit = int(value) if re.fullmatch(r"-?[0-9]{1,9}", value) else None
    else:
        limit = python_int(value)
    if limit is None:
        raise _bad("limit param must be an integer")
    if limit < 0:
        raise _bad("limit param must be positive")
    if limit > MAX_LIMIT:
        if strict:
            raise _bad(f"limit param must be at most {MAX_LIMIT}")
        return MAX_LIMIT
    return limit


def _check_value(name: str, value: str) -> None:
    if len(value) > MAX_VALUE_LENGTH:
        raise _bad(f"The value of '{name}' is longer than {MAX_VALUE_LENGTH} characters")
    if "\x00" in value:
        raise _bad(f"The value of '{name}' contains a NUL character")


def attribute_clause(name: str, value: str, *, strict_enums: bool) -> Clause:
    """An exact-match filter on a registered attribute or a custom property."""
    _check_value(name, value)
    attr = registry.get(name)
    if attr is None:
        if not name or len(name) > registry.CUSTOM_NAME_MAX or "\x00" in name:
            raise _bad("Invalid property name in the query")
        return Clause(name, "eq", value)
    if attr.filter is Filter.TIME or attr.kind is Kind.DATETIME:
        return parse_time_filter(name, value)
    if attr.filter is Filter.BOOLEAN or attr.kind is Kind.BOOLEAN:
        return Clause(name, "eq", parse_bool(name, value))
    if attr.filter is Filter.INTEGER or attr.kind is Kind.INTEGER:
        if not re.fullmatch(r"-?[0-9]{1,18}", value):
            raise _invalid_value(attr, value, "an integer is expected")
        return Clause(name, "eq", int(value))
    if attr.kind is not Kind.STRING or attr.column is None:
        raise _bad(f"'{name}' cannot be used as a filter")
    if strict_enums and attr.enum is not None and value not in attr.enum:
        raise _invalid_value(attr, value, f"use one of {list(attr.enum)}")
    if strict_enums and attr.pattern is not None and not re.fullmatch(attr.pattern, value):
        # a value no stored image can have (an `id` that is no UUID) is a mistake to report
        raise _invalid_value(attr, value, _pattern_hint(attr.pattern))
    return Clause(name, "eq", value)


def _pattern_hint(pattern: str) -> str:
    """What a registry pattern asks for, in words a caller understands."""
    if pattern == registry.UUID_PATTERN:
        return "a UUID is expected"
    if re.fullmatch(r"\[0-9\]\{1,[0-9]+\}", pattern):
        return "a number is expected"
    return "the value is not in the expected format"


def _invalid_value(attr: registry.Attribute, value: str, reason: str) -> errors.ApiError:
    """A bad filter value: the attribute's own catalogue error where IMS has one (IMG.0024 for
    `__imagetype`, IMG.0055 for sizes, ...), the generic malformed-request one otherwise."""
    if attr.error:
        return errors.CATALOGUE[attr.error](name=attr.name, reason=f"{value!r}: {reason}")
    return _bad(f"Invalid value '{value}' for '{attr.name}': {reason}")


def tag_alternatives(tag: str) -> tuple[str, ...]:
    """IMS stored tags as `key.value` before its tag upgrade and asks to query them as
    `key=value`: `tag=a=b` matches both `a=b` and `a.b`."""
    key, sep, rest = tag.partition("=")
    if sep and key:
        return (tag, f"{key}.{rest}")
    return (tag,)


def _sort_ims(params: Params) -> Sort:
    key = _one(params, "sort_key")
    key = "created_at" if key is None else key  # an empty sort key is invalid, not the default
    key = IMS_SORT_ALIASES.get(key, key)
    direction = _one(params, "sort_dir")
    direction = "desc" if direction is None else direction
    if key not in IMS_SORT_KEYS:
        raise _bad(
            f"Invalid sort key: {key}. It must be one of the following: {', '.join(IMS_SORT_KEYS)}."
        )
    if direction not in ("asc", "desc"):
        raise _bad(f"Invalid sort direction: {direction}")
    return complete_sort([(key, direction == "desc")], ties_desc=direction == "desc")


def complete_sort(keys: Sequence[tuple[str, bool]], *, ties_desc: bool) -> Sort:
    """The keys, then `created_at` and `id` where absent, in the direction `ties_desc` says,
    so that every order is total and keyset paging is exact. A key given twice counts where
    it first appears (the second cannot change the order), and nothing after `id` can matter:
    ids are unique."""
    out: list[tuple[str, bool]] = []
    for key, desc in keys:
        if key not in (k for k, _ in out):
            out.append((key, desc))
    for tie in ("created_at", "id"):
        if tie not in (k for k, _ in out):
            out.append((tie, ties_desc))
    return tuple(out[: [k for k, _ in out].index("id") + 1])


def _marker(params: Params) -> str | None:
    marker = _one(params, "marker")
    if marker is not None:
        _check_value("marker", marker)
    return marker


def _one_of(name: str, allowed: Sequence[str], refusal: str) -> Callable[[Params], str | None]:
    """The parser of a parameter given at most once, with one of `allowed` values."""

    def read(params: Params) -> str | None:
        value = _one(params, name)
        if value is not None and value not in allowed:
            raise _bad(f"{refusal}: {value}")
        return value

    return read


def _ims_member_status(params: Params) -> str | None:
    member_status = _one(params, "member_status")
    if member_status is not None:
        if member_status not in MEMBER_STATUSES:
            raise _bad(f"Invalid member_status value: {member_status}")
        if _one(params, "visibility") != "shared":
            raise _bad("member_status can only be used together with visibility=shared")
    return member_status


def _ims_registered(params: Params) -> list[Clause]:
    registered = _one(params, "__isregistered")
    if registered is None:
        return []
    if registered not in ("true", "false", "True", "False"):
        raise _bad(f"Invalid value '{registered}' for '__isregistered': use true or false")
    return [Clause("__isregistered", "eq", registered.lower())]


def _ims_architecture(params: Params) -> list[Clause]:
    architecture = _one(params, "architecture")
    if architecture is None:
        return []
    if architecture == "arm":
        return [Clause("__support_arm", "eq", "true")]
    if architecture == "x86":
        return [Clause("__support_arm", "neq", "true")]
    raise errors.INVALID_ARCHITECTURE()


def _ims_enterprise_project(params: Params) -> list[Clause]:
    project = _one(params, "enterprise_project_id")
    if project is None or project == "all_granted_eps":
        return []
    if project == "0":
        return [Clause("enterprise_project_id", "eq_or_null", "0")]
    if not re.fullmatch(registry.UUID_PATTERN, project):
        raise _bad(f"Invalid enterprise_project_id: {project}: use 0, a UUID or all_granted_eps")
    return [Clause("enterprise_project_id", "eq", project)]


def _ims_tags(params: Params) -> tuple[tuple[str, ...], ...]:
    tags = []
    for value in (v for k, v in params if k == "tag"):
        _check_value("tag", value)
        tags.append(tag_alternatives(value))
    return tuple(tags)


def _enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


_STRING: dict[str, Any] = {"type": "string"}
_MARKER = "The ID of the last image of the previous page."

# `GET /v2/cloudimages`: the parameters that are not attribute filters, in the order their
# values are checked (so the first bad one is the one reported).
IMS_PARAMETERS = Parameters(
    Parameter(
        "tag",
        _STRING,
        "A tag; `key=value` also matches `key.value`.",
        _ims_tags,
    ),
    Parameter(
        "visibility",
        _enum(*IMS_VISIBILITIES),
        "public, private or shared.",
        _one_of("visibility", IMS_VISIBILITIES, "Invalid visibility value"),
    ),
    Parameter(
        "member_status",
        _enum(*MEMBER_STATUSES),
        "The caller's member status; needs visibility=shared.",
        _ims_member_status,
    ),
    Parameter(
        "__isregistered",
        _enum("true", "false"),
        "Whether the image is registered; common users only see `true`.",
        _ims_registered,
    ),
    Parameter("architecture", _enum("x86", "arm"), "Image architecture.", _ims_architecture),
    Parameter(
        "enterprise_project_id",
        _STRING,
        "0 (default project), a UUID, or all_granted_eps.",
        _ims_enterprise_project,
    ),
    Parameter(
        "sort_key",
        _enum(*IMS_SORT_KEYS),
        "Sort key, default created_at.",
        _sort_ims,
    ),
    Parameter("sort_dir", _enum("asc", "desc"), "Sort direction, default desc.", _sort_ims),
    Parameter("marker", _STRING, _MARKER, _marker),
    Parameter(
        "limit",
        {"type": "integer", "minimum": 0, "maximum": MAX_LIMIT},
        f"Page size, default {IMS_DEFAULT_LIMIT}.",
        lambda params: parse_limit(_one(params, "limit"), IMS_DEFAULT_LIMIT, strict=True),
    ),
    Parameter(
        "flavor_id",
        _STRING,
        "Public images that can boot this ECS flavor.",
        lambda params: _one(params, "flavor_id"),
    ),
)


def parse_ims(params: Params, caller: Caller) -> ListQuery:
    """`GET /v2/cloudimages`: the union of the IMS editions' parameters."""
    clauses: list[Clause] = []
    for name, value in params:
        if name in IMS_PARAMETERS.names:
            continue
        if name in ("created_at", "updated_at"):
            _check_value(name, value)
            clauses.append(parse_time_filter(name, value))
            continue
        clauses.append(attribute_clause(name, value, strict_enums=True))
    read = IMS_PARAMETERS.reader(params)
    tags = read("tag")
    visibility = read("visibility")
    member_status = read("member_status")
    clauses += read("__isregistered")
    clauses += read("architecture")
    clauses += read("enterprise_project_id")
    return ListQuery(
        clauses=tuple(clauses),
        tags=tags,
        visibility=visibility,
        member_status=member_status,
        membership_only=True,
        sort=read("sort_key"),
        marker=read("marker"),
        limit=read("limit"),
        registered_only=not caller.is_admin,
        extra={"flavor_id": read("flavor_id")},
    )


def _sort_glance(params: Params) -> Sort:
    """Glance's `_get_sorting_params` and the tie-breakers of its `image_get_all`.

    Classic syntax (`sort_key=a&sort_dir=asc`, repeatable): no `sort_dir` means `desc`; one
    applies to every key; several must be exactly as many as the keys. New syntax
    (`sort=a:asc,b`): a key without a direction is `desc`. Either way the tie-breakers
    `created_at` and `id` take the one direction given when exactly one was, else `desc`.
    Keys and directions are stripped of surrounding spaces. A repeated `sort` continues the
    list (Glance would read only the first)."""
    sort = [v for k, v in params if k == "sort"]
    raw_keys = [v for k, v in params if k == "sort_key"]
    raw_dirs = [v for k, v in params if k == "sort_dir"]
    keys: list[str] = []
    dirs: list[str] = []
    if sort:
        if raw_keys or raw_dirs:
            raise _bad("Old and new sorting syntax cannot be combined")
        for item in ",".join(sort).strip().split(","):
            key, _, direction = item.partition(":")
            keys.append(_glance_sort_key(key.strip()))
            dirs.append(_glance_sort_dir((direction or "desc").strip()))
    else:
        keys = [_glance_sort_key(k.strip()) for k in raw_keys]
        dirs = [_glance_sort_dir(d.strip()) for d in raw_dirs]
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise _bad("Number of sort dirs does not match the number of sort keys")
        keys = keys or ["created_at"]
        dirs = dirs or ["desc"]
    ties_desc = dirs[0] == "desc" if len(dirs) == 1 else True
    if len(dirs) == 1:
        dirs *= len(keys)
    return complete_sort(
        [(key, d == "desc") for key, d in zip(keys, dirs, strict=True)], ties_desc=ties_desc
    )


def _glance_sort_key(key: str) -> str:
    if key not in GLANCE_SORT_KEYS:
        raise _bad(
            f"Invalid sort key: {key}. It must be one of the following: "
            f"{', '.join(GLANCE_SORT_KEYS)}."
        )
    return key


def _glance_sort_dir(direction: str) -> str:
    if direction not in ("asc", "desc"):
        raise _bad(f"Invalid sort direction: {direction}")
    return direction


_INT64 = (-(2**63), 2**63 - 1)  # the range of the store's integer columns


def _size_bound(name: str, op: str, text: str) -> list[Clause]:
    """`size_min` (op gte) or `size_max` (op lte): any integer int() reads, negative ones
    included, as Glance does. A bound beyond what a 64-bit column holds is decided here
    (all images, or none) rather than sent to a database that cannot represent it."""
    bound = python_int(text)
    if bound is None:
        raise _bad("Unable to filter on a range with a non-numeric value.")
    low, high = _INT64
    if low <= bound <= high:
        return [Clause(name, op, bound)]
    if (op == "gte") == (bound < low):
        return []  # size >= -huge, size <= +huge: every image
    return [Clause(name, "lt", low)]  # no 64-bit value is below the lowest one


def _glance_tags(params: Params) -> tuple[tuple[str, ...], ...]:
    tags = tuple((v,) for k, v in params if k == "tag")
    for (tag,) in tags:
        _check_value("tag", tag)
    return tags


def _glance_os_hidden(params: Params) -> list[Clause]:
    """Glance lists hidden images only when asked: without `os_hidden` the list has the
    images that are not hidden, with `os_hidden=true` only the hidden ones. The value is read
    in any case, as Glance lower-cases it."""
    value = _one(params, "os_hidden")
    wanted = "false" if value is None else value.lower()
    if wanted not in ("true", "false"):
        raise _bad(
            f"Invalid value '{wanted}' for 'os_hidden' filter. Valid values are 'true' or 'false'."
        )
    return [Clause("os_hidden", "eq", wanted == "true")]


def _size_reader(name: str, op: str) -> Callable[[Params], list[Clause]]:
    def read(params: Params) -> list[Clause]:
        bound = _one(params, name)
        return [] if bound is None else _size_bound("size", op, bound)

    return read


_SORT_SYNTAX = "Sort key, default created_at."

# `GET /v2/images`: the parameters that are not attribute filters, in the order their values
# are checked (so the first bad one is the one reported).
GLANCE_PARAMETERS = Parameters(
    Parameter(
        "size_min",
        {"type": "integer"},
        "Smallest size in bytes (any integer).",
        _size_reader("size_min", "gte"),
    ),
    Parameter(
        "size_max",
        {"type": "integer"},
        "Largest size in bytes (any integer).",
        _size_reader("size_max", "lte"),
    ),
    Parameter("tag", _STRING, "A tag (repeat for several).", _glance_tags),
    Parameter(
        "os_hidden",
        {"type": "string", "pattern": "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$"},
        "true: only hidden images; false (the default): only the others. Any case.",
        _glance_os_hidden,
    ),
    Parameter(
        "visibility",
        _enum(*GLANCE_VISIBILITIES),
        "public, private, shared, community or all.",
        _one_of("visibility", GLANCE_VISIBILITIES, "Invalid visibility value"),
    ),
    Parameter(
        "member_status",
        _enum(*MEMBER_STATUSES, "all"),
        "The caller's member status for shared images.",
        _one_of("member_status", (*MEMBER_STATUSES, "all"), "Invalid status value"),
    ),
    Parameter("sort_key", _enum(*GLANCE_SORT_KEYS), _SORT_SYNTAX, _sort_glance),
    Parameter("sort_dir", _enum("asc", "desc"), "Sort direction.", _sort_glance),
    Parameter("sort", _STRING, "`key:dir,key:dir` sort syntax.", _sort_glance),
    Parameter("marker", _STRING, _MARKER, _marker),
    Parameter(
        "limit",
        {"type": "integer", "minimum": 0},
        f"Page size, default {GLANCE_DEFAULT_LIMIT}; a larger one than {MAX_LIMIT} is read as "
        f"{MAX_LIMIT}.",
        lambda params: parse_limit(_one(params, "limit"), GLANCE_DEFAULT_LIMIT, strict=False),
    ),
)


def parse_glance(params: Params, caller: Caller) -> ListQuery:
    """`GET /v2/images`: Glance's filters; unknown parameters are exact property filters."""
    clauses: list[Clause] = []
    status_given = False
    for name, value in params:
        if name in GLANCE_PARAMETERS.names:
            continue
        _check_value(name, value)
        if name == "status":
            status_given = True
        if name in _GLANCE_IN_FIELDS and value.startswith("in:"):
            items = tuple(_unquote_list(value[3:]))
            clauses.append(Clause(name, "in", items))
            continue
        if name in ("created_at", "updated_at"):
            clauses += glance_time_clauses(name, value)
            continue
        clauses.append(attribute_clause(name, value, strict_enums=False))
    read = GLANCE_PARAMETERS.reader(params)
    clauses += read("size_min")
    clauses += read("size_max")
    clauses += read("os_hidden")
    return ListQuery(
        clauses=tuple(clauses),
        tags=read("tag"),
        visibility=read("visibility"),
        member_status=read("member_status"),
        sort=read("sort"),
        marker=read("marker"),
        limit=read("limit"),
        hide_killed=not status_given,
    )


def _unquote_list(text: str) -> list[str]:
    """Glance's `in:a,b,"c,d"` list syntax."""
    items: list[str] = []
    for match in re.finditer(r'"([^"]*)"|([^,]+)', text):
        items.append(match.group(1) if match.group(1) is not None else match.group(2))
    return items
