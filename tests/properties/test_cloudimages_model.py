"""`GET /v2/cloudimages` against a reference model, on SQLite and PostgreSQL.

Hypothesis draws a random catalog (owners, visibility, members, registration, every filtered
attribute, ties everywhere) and random valid queries (a caller, up to three filters, a sort and
a page size), loads the catalog into the database of the server and pages through the
endpoint over HTTP with `marker`. Every page must equal the same slice of what the reference
below computes: a plain Python filter, sort and slice over the documents, written from the IMS
documentation and `docs/cloudimages.md`, sharing no code with the server's query path.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.catalogs import load
from tests.support.databases import empty
from tests.support.fixtures import server_fixture
from tests.support.servers import Server

# These tests look only at requests and responses: the application in this process serves them
# (tests.support.in_process; `pytest --real-servers` uses an `openims serve` process instead).
server = server_fixture("server", in_process=True)

# --- the value pools: small, so that filters hit and sort keys tie ---------------------------

OWNERS = ("p1", "p2", "p3")
CALLERS = (("p1", None), ("p2", None), ("admin-project", "admin"))
NAMES = ("alpha", "Alpha", "alpha 2", "beta", "a b", "镜像")
TIMES = tuple(
    f"2018-10-28T{h:02d}:{m:02d}:00Z" for h, m in ((9, 0), (9, 59), (10, 0), (10, 0), (23, 30))
)
KEYS = ("0f2a9b1e-7c4d-4e8a-9d6b-3a1c5e7f9b20", "a1b2c3d4-0000-4000-8000-000000000001")
PROJECTS = ("0", "5b4f3c2d-1e0a-4b9c-8d7e-6f5a4b3c2d1e", "6c5f3c2d-1e0a-4b9c-8d7e-6f5a4b3c2d1e")
TAGS = ("env=prod", "env.prod", "web", "db")
FLAGS: dict[str, tuple[str, ...]] = {
    "__support_kvm": ("true",),
    "__support_xen": ("true",),
    "__support_largememory": ("true",),
    "__support_diskintensive": ("true",),
    "__support_highperformance": ("true",),
    "__support_xen_hana": ("true",),
    "__support_kvm_infiniband": ("true",),
    "__support_xen_gpu_type": ("M60_GPU", "M60_vGPU"),
    "__support_kvm_gpu_type": ("V100_vGPU", "P100"),
    "__support_arm": ("true", "false"),
    "__support_amd": ("true",),
    "__support_s4l": ("true",),  # not a registered attribute: a custom property
}
CHOICES: dict[str, tuple[Any, ...]] = {
    "owner": OWNERS,
    "visibility": ("public", "private", "shared"),
    "__imagetype": ("gold", "private", "shared", "market"),
    "status": ("active", "queued", "killed", "saving", "deleted"),
    "container_format": ("bare", "ovf"),
    "disk_format": ("zvhd2", "qcow2", "raw", "iso"),
    "min_ram": (0, 1024, 4096, 8192),
    "min_disk": (0, 40, 100, 1024),
    "__os_type": ("Linux", "Windows", "Other"),
    "virtual_env_type": ("FusionCompute", "DataImage", "Ironic", "IsoImage"),
    "created_at": TIMES,
    "updated_at": TIMES,
    "__isregistered": ("true", "true", "true", "false"),
    "protected": (True, False),
}
OPTIONAL: dict[str, tuple[Any, ...]] = {
    "name": NAMES,
    "size": (0, 5, 100),
    "__os_bit": ("32", "64"),
    "__platform": ("Ubuntu", "Windows", "Oracle Linux"),
    "__whole_image": (True, False),
    "__system__cmkid": KEYS,
    "enterprise_project_id": PROJECTS[:2],
    **FLAGS,
}
FLAVORS = {
    f["id"]: f
    for f in json.loads(resources.files("openims.data").joinpath("flavors.json").read_text())[
        "flavors"
    ]
}
SORT_KEYS = ("name", "container_format", "disk_format", "status", "id", "size", "created_at")


# Strategies are built once: Hypothesis spends more on a fresh strategy object than on a draw.
_PICK = {n: st.integers(0, n - 1) for n in range(1, 64)}
_MAYBE = {name: st.one_of(st.none(), st.sampled_from(v)) for name, v in OPTIONAL.items()}
_CHOICE = {name: st.sampled_from(v) for name, v in CHOICES.items()}
_MEMBER_STATUS = st.sampled_from(("accepted", "rejected", "pending"))
_MEMBERS = {
    owner: st.dictionaries(
        st.sampled_from([p for p in OWNERS if p != owner]), _MEMBER_STATUS, max_size=2
    )
    for owner in OWNERS
}
_TAG_LISTS = st.lists(st.sampled_from(TAGS), unique=True, max_size=2)
_FILTERS: dict[str, st.SearchStrategy[str]] = {
    "owner": st.sampled_from(OWNERS),
    "__imagetype": st.sampled_from(CHOICES["__imagetype"]),
    "status": st.sampled_from(CHOICES["status"]),
    "name": st.sampled_from(NAMES),
    "container_format": st.sampled_from(CHOICES["container_format"]),
    "disk_format": st.sampled_from(CHOICES["disk_format"]),
    "min_ram": st.sampled_from([str(v) for v in CHOICES["min_ram"]]),
    "min_disk": st.sampled_from([str(v) for v in CHOICES["min_disk"]]),
    "__os_bit": st.sampled_from(OPTIONAL["__os_bit"]),
    "__platform": st.sampled_from(OPTIONAL["__platform"]),
    "__os_type": st.sampled_from(CHOICES["__os_type"]),
    "virtual_env_type": st.sampled_from(CHOICES["virtual_env_type"]),
    "protected": st.sampled_from(("true", "false", "True", "False")),
    "__whole_image": st.sampled_from(("true", "false", "True")),
    "__isregistered": st.sampled_from(("true", "false")),
    "__system__cmkid": st.sampled_from(KEYS),
    "enterprise_project_id": st.sampled_from((*PROJECTS, "all_granted_eps")),
    "architecture": st.sampled_from(("x86", "arm")),
    "flavor_id": st.sampled_from(
        ("s6.large.2", "s6.small.1", "kc1.large.2", "g5.8xlarge.4", "s1.medium", "e1.4xlarge")
    ),
    "tag": st.sampled_from(TAGS),
    **{name: st.sampled_from(values) for name, values in FLAGS.items()},
}
_FILTER_NAMES = [*sorted(_FILTERS), "id"]
_FILTER_COUNT = st.sampled_from((0, 1, 1, 2, 2, 3))
_VISIBILITY = st.sampled_from((None, None, "public", "private", "shared"))
_TIMES = st.sampled_from((None, None, None, "created_at", "updated_at", "range"))
_OPS = st.sampled_from(("gt", "gte", "lt", "lte", "eq", "neq"))
_TIME_FORMATS = st.sampled_from(("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S"))
_SORT_KEY = st.sampled_from((None, *SORT_KEYS, "create_at"))
_SORT_DIR = st.sampled_from((None, "asc", "desc"))
_LIMIT = st.sampled_from((2, 3, 5, None, 1))
_CALLER = st.sampled_from(CALLERS)


def _pick(draw: st.DrawFn, values: list[Any]) -> Any:
    return values[draw(_PICK[len(values)])]


@st.composite
def catalogs(draw: st.DrawFn) -> list[dict[str, Any]]:
    docs = []
    for index in range(draw(st.integers(1, 14))):
        # unique ids whose order is unrelated to the creation order
        doc: dict[str, Any] = {"id": f"{draw(_PICK[16]):x}{index:07x}-0000-4000-8000-000000000000"}
        for name, strategy in _CHOICE.items():
            doc[name] = draw(strategy)
        for name, maybe in _MAYBE.items():
            value = draw(maybe)
            if value is not None:
                doc[name] = value
        doc["tags"] = draw(_TAG_LISTS)
        if doc["visibility"] == "shared":
            members = draw(_MEMBERS[doc["owner"]])
            doc["members"] = [{"member_id": m, "status": s} for m, s in members.items()]
        docs.append(doc)
    return docs


def _query_form(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _time_value(draw: st.DrawFn, docs: list[dict[str, Any]], name: str) -> tuple[str, str]:
    stamp = datetime.strptime(_pick(draw, [d[name] for d in docs]), "%Y-%m-%dT%H:%M:%SZ")
    return (name, f"{draw(_OPS)}:{stamp.strftime(draw(_TIME_FORMATS))}")


@st.composite
def queries(
    draw: st.DrawFn, docs: list[dict[str, Any]]
) -> tuple[tuple[str, str | None], list[tuple[str, str]]]:
    caller = draw(_CALLER)
    params: list[tuple[str, str]] = []
    visibility = draw(_VISIBILITY)
    if visibility is not None:
        params.append(("visibility", visibility))
        if visibility == "shared" and draw(st.booleans()):
            params.append(("member_status", draw(_MEMBER_STATUS)))
    names = {_pick(draw, _FILTER_NAMES) for _ in range(draw(_FILTER_COUNT))}
    for name in sorted(names):
        # half the time a value some image has, so that filters keep something
        if name == "tag":
            present = sorted({t for d in docs for t in d["tags"]})
        else:
            present = sorted({_query_form(d[name]) for d in docs if name in d})
        if name == "id" or (bool(present) and draw(st.booleans())):
            params.append((name, _pick(draw, present)))
        else:
            params.append((name, draw(_FILTERS[name])))
    times = draw(_TIMES)
    if times == "range":  # a time filter given twice is a range
        params += [_time_value(draw, docs, "created_at"), _time_value(draw, docs, "created_at")]
    elif times is not None:
        params.append(_time_value(draw, docs, times))
    for name, strategy in (("sort_key", _SORT_KEY), ("sort_dir", _SORT_DIR), ("limit", _LIMIT)):
        value = draw(strategy)
        if value is not None:
            params.append((name, str(value)))
    return caller, params


# --- the reference -----------------------------------------------------------------------------


def _epoch(text: str) -> int:
    for form in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S"):
        try:
            return int(datetime.strptime(text, form).replace(tzinfo=UTC).timestamp())
        except ValueError:
            pass
    raise AssertionError(text)


def _member_status(doc: dict[str, Any], project: str) -> str | None:
    return next((m["status"] for m in doc.get("members", []) if m["member_id"] == project), None)


def visible(doc: dict[str, Any], project: str, admin: bool, params: dict[str, str]) -> bool:
    """Who sees what in a list (docs/cloudimages.md, "Visibility")."""
    visibility, wanted = params.get("visibility"), params.get("member_status")
    own = doc["owner"] == project
    member = _member_status(doc, project)
    shared = doc["visibility"] == "shared"
    if visibility is None:
        seen = admin or own or doc["visibility"] == "public" or (shared and member == "accepted")
    elif visibility == "public":
        seen = doc["visibility"] == "public"
    elif visibility == "private":
        seen = doc["visibility"] == "private" and (admin or own)
    elif wanted is not None:
        seen = shared and member == wanted
    else:
        seen = shared and (admin or own or member == "accepted")
    return seen and (admin or doc["__isregistered"] == "true")


def boots(doc: dict[str, Any], flavor: dict[str, Any]) -> bool:
    """The flavor rule of docs/cloudimages.md."""
    return (
        doc["visibility"] == "public"
        and doc["virtual_env_type"] == "FusionCompute"
        and doc["status"] == "active"
        and doc["min_ram"] <= flavor["ram_mb"]
        and doc["min_disk"] <= flavor["disk_gb"]
        and (doc.get("__support_arm") == "true") == (flavor["arch"] == "arm")
        and all(doc.get(k) == v for k, v in flavor["requires"].items())
    )


def matches(doc: dict[str, Any], name: str, value: str) -> bool:
    if name in ("created_at", "updated_at"):
        op, _, when = value.partition(":")
        have, want = _epoch(doc[name]), _epoch(when)
        return {
            "gt": have > want,
            "gte": have >= want,
            "lt": have < want,
            "lte": have <= want,
            "eq": have == want,
            "neq": have != want,
        }[op]
    if name == "tag":
        key, _, rest = value.partition("=")
        return value in doc["tags"] or (bool(rest) and f"{key}.{rest}" in doc["tags"])
    if name == "architecture":
        return (doc.get("__support_arm") == "true") == (value == "arm")
    if name == "enterprise_project_id":
        if value == "all_granted_eps":
            return True
        return bool(doc.get("enterprise_project_id", "0") == value)
    if name == "flavor_id":
        return boots(doc, FLAVORS[value])
    if name in ("protected", "__whole_image"):
        return bool(doc.get(name, False)) == (value.lower() == "true")
    if name in ("min_ram", "min_disk"):
        return bool(doc[name] == int(value))
    return doc.get(name) == value


def reference(
    docs: list[dict[str, Any]], caller: tuple[str, str | None], params: list[tuple[str, str]]
) -> list[str]:
    project, roles = caller
    admin = roles == "admin"
    given = dict(params)
    filters = [
        (k, v)
        for k, v in params
        if k not in ("visibility", "member_status", "sort_key", "sort_dir", "limit", "marker")
    ]
    kept = [
        d
        for d in docs
        if visible(d, project, admin, given) and all(matches(d, k, v) for k, v in filters)
    ]
    key = given.get("sort_key", "created_at")
    key = "created_at" if key == "create_at" else key  # the older edition's spelling
    keys = [key] + [k for k in ("created_at", "id") if k != key]
    keys = keys[: keys.index("id") + 1]

    def sort_value(d: dict[str, Any]) -> tuple[Any, ...]:
        out: list[Any] = []
        for k in keys:
            v: Any = d.get(k)
            if k == "created_at":
                v = _epoch(v)
            elif v is None:
                v = 0 if k == "size" else ""
            out.append(v)
        return tuple(out)

    kept.sort(key=sort_value, reverse=given.get("sort_dir", "desc") == "desc")
    return [d["id"] for d in kept]


# --- the property --------------------------------------------------------------------------------


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_the_endpoint_agrees_with_the_reference(server: Server, data: st.DataObject) -> None:
    # one keep-alive client for every example (creating a client costs more than a request);
    # the caller's project and roles go with each request
    client = server.clients[0] if server.clients else server.client()
    docs = data.draw(catalogs(), label="catalog")
    empty(server.database_url)
    load(server.database_url, docs)
    for _ in range(4):
        caller, params = data.draw(queries(docs), label="query")
        expected = reference(docs, caller, params)
        headers = {"X-Project-Id": caller[0], **({"X-Roles": caller[1]} if caller[1] else {})}
        limit = int(dict(params).get("limit", "500"))
        marker: str | None = None
        for start in range(0, len(expected) + 1, limit):
            query = params + ([("marker", marker)] if marker else [])
            r = client.get("/v2/cloudimages", params=tuple(query), headers=headers)
            assert r.status_code == 200, (params, r.text)
            page = [i["id"] for i in r.json()["images"]]
            assert page == expected[start : start + limit], (caller, query)
            if len(page) < limit:
                break
            marker = page[-1]
