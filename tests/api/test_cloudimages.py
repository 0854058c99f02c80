"""`GET /v2/cloudimages` over HTTP, on SQLite and PostgreSQL: every documented filter,
visibility by caller, the five "Common Query Methods", sorting, paging and validation.

Each filter case loads one image the filter must keep and one it must drop, checks that the
unfiltered list holds both, and then that the filtered list holds exactly the first: a filter
that was ignored would fail its case.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from openims.domain import registry, times
from tests.support.catalogs import ABSENT, ids, image, load, page_all, private, shared
from tests.support.fixtures import server_fixture
from tests.support.seeds import QUERY_EXAMPLE
from tests.support.servers import Server

# These tests look only at requests and responses: the application in this process serves them
# (tests.support.in_process; `pytest --real-servers` uses an `openims serve` process instead).
server = server_fixture("server", in_process=True)

KEY = "0f2a9b1e-7c4d-4e8a-9d6b-3a1c5e7f9b20"  # a KMS key id
EP = "5b4f3c2d-1e0a-4b9c-8d7e-6f5a4b3c2d1e"  # an enterprise project

# The query parameters of the issue (the union of the seed editions).
ISSUE_PARAMETERS = """
__isregistered __imagetype __whole_image __system__cmkid protected visibility owner id status
name flavor_id container_format disk_format min_ram min_disk __os_bit __platform marker limit
sort_key sort_dir __os_type tag member_status __support_kvm __support_xen __support_largememory
__support_diskintensive __support_highperformance __support_xen_gpu_type __support_kvm_gpu_type
__support_xen_hana __support_kvm_infiniband __support_s4l virtual_env_type enterprise_project_id
created_at updated_at architecture
""".split()  # noqa: SIM905 - the list reads as the issue writes it

# (query, fields of the image the filter keeps, fields of the image it drops)
FilterCase = tuple[dict[str, str], dict[str, Any], dict[str, Any]]
FILTER_CASES: dict[str, FilterCase] = {
    "__imagetype": ({"__imagetype": "gold"}, {}, {"__imagetype": "market"}),
    "__whole_image=true": ({"__whole_image": "true"}, {"__whole_image": True}, {}),
    "__whole_image=false": ({"__whole_image": "false"}, {}, {"__whole_image": True}),
    "__whole_image=False": (
        {"__whole_image": "False"},
        {"__whole_image": False},
        {"__whole_image": True},
    ),
    "__system__cmkid": ({"__system__cmkid": KEY}, {"__system__cmkid": KEY}, {}),
    "protected=true": ({"protected": "true"}, {}, {"protected": False}),
    "protected=True": ({"protected": "True"}, {}, {"protected": False}),
    "protected=false": ({"protected": "false"}, {"protected": False}, {}),
    "owner": ({"owner": "p9"}, {"owner": "p9"}, {}),
    "status": ({"status": "queued"}, {"status": "queued"}, {}),
    "name": (
        {"name": "CentOS 7.3 64bit"},
        {"name": "CentOS 7.3 64bit"},
        {"name": "CentOS 7.3 64bit vivado"},
    ),
    "name is case-sensitive": ({"name": "ubuntu"}, {"name": "ubuntu"}, {"name": "Ubuntu"}),
    "container_format": ({"container_format": "bare"}, {}, {"container_format": "ovf"}),
    "disk_format": ({"disk_format": "qcow2"}, {"disk_format": "qcow2"}, {}),
    "disk_format=iso": ({"disk_format": "iso"}, {"disk_format": "iso"}, {"disk_format": "raw"}),
    "min_ram": ({"min_ram": "2048"}, {"min_ram": 2048}, {"min_ram": 4096}),
    "min_disk": ({"min_disk": "100"}, {"min_disk": 100}, {}),
    "__os_bit": ({"__os_bit": "32"}, {"__os_bit": "32"}, {"__os_bit": "64"}),
    "__platform": (
        {"__platform": "Oracle Linux"},
        {"__platform": "Oracle Linux"},
        {"__platform": "CentOS"},
    ),
    "__os_type": ({"__os_type": "Windows"}, {"__os_type": "Windows"}, {}),
    "tag": ({"tag": "env=prod"}, {"tags": ["env=prod", "web"]}, {"tags": ["env=dev"]}),
    "tag in the legacy key.value form": (
        {"tag": "env=prod"},
        {"tags": ["env.prod"]},
        {"tags": ["env.dev"]},
    ),
    "tag without a value": ({"tag": "web"}, {"tags": ["web"]}, {"tags": ["webs"]}),
    "__support_xen_gpu_type": (
        {"__support_xen_gpu_type": "M60_GPU"},
        {"__support_xen_gpu_type": "M60_GPU"},
        {"__support_xen_gpu_type": "M60_vGPU"},
    ),
    "__support_kvm_gpu_type": (
        {"__support_kvm_gpu_type": "V100_vGPU"},
        {"__support_kvm_gpu_type": "V100_vGPU"},
        {"__support_kvm_gpu_type": "P100"},
    ),
    "__support_s4l (any other __support_* flag)": (
        {"__support_s4l": "true", "virtual_env_type": "Ironic"},
        {"__support_s4l": "true", "virtual_env_type": "Ironic"},
        {"__support_io2": "true", "virtual_env_type": "Ironic"},
    ),
    "virtual_env_type": ({"virtual_env_type": "Ironic"}, {"virtual_env_type": "Ironic"}, {}),
    "virtual_env_type=IsoImage": (
        {"virtual_env_type": "IsoImage"},
        {"virtual_env_type": "IsoImage"},
        {"virtual_env_type": "DataImage"},
    ),
    "enterprise_project_id=0 (named)": (
        {"enterprise_project_id": "0"},
        {"enterprise_project_id": "0"},
        {"enterprise_project_id": EP},
    ),
    "enterprise_project_id=0 (absent)": (
        {"enterprise_project_id": "0"},
        {},
        {"enterprise_project_id": EP},
    ),
    "enterprise_project_id=UUID": (
        {"enterprise_project_id": EP},
        {"enterprise_project_id": EP},
        {"enterprise_project_id": "0"},
    ),
    "architecture=arm": ({"architecture": "arm"}, {"__support_arm": "true"}, {}),
    "architecture=x86": (
        {"architecture": "x86"},
        {"__support_arm": "false"},
        {"__support_arm": "true"},
    ),
    "architecture=x86 (no flag)": ({"architecture": "x86"}, {}, {"__support_arm": "true"}),
    "flavor_id": (
        {"flavor_id": "s6.large.2"},
        {"__support_kvm": "true", "min_ram": 4096},
        {"__support_kvm": "true", "min_ram": 8192},
    ),
    "created_at": (
        {"created_at": "lt:2018-10-28T10:00:00Z"},
        {"created_at": "2018-10-28T09:59:59Z"},
        {"created_at": "2018-10-28T10:00:00Z"},
    ),
    "created_at, second format": (
        {"created_at": "gte:2018-10-28 10:00:00"},
        {"created_at": "2018-10-28T10:00:00Z"},
        {"created_at": "2018-10-28T09:59:59Z"},
    ),
    "updated_at": (
        {"updated_at": "gt:2018-10-28T10:00:00Z"},
        {"created_at": "2018-01-01T00:00:00Z", "updated_at": "2018-10-28T10:00:01Z"},
        {"created_at": "2018-01-01T00:00:00Z", "updated_at": "2018-10-28T10:00:00Z"},
    ),
}
# Every registered __support_* flag filters by its exact string value.
for _attr in registry.REGISTRY:
    if _attr.name.startswith("__support_") and _attr.name not in FILTER_CASES:
        _value = "true" if _attr.enum is None or "true" in _attr.enum else _attr.enum[0]
        FILTER_CASES[_attr.name] = ({_attr.name: _value}, {_attr.name: _value}, {})

# Parameters whose cases need more than two public images; tested below.
TESTED_APART = {
    "__isregistered": "test_isregistered_defaults_to_true_for_common_users_only",
    "visibility": "test_visibility_by_caller",
    "member_status": "test_the_five_common_query_methods",
    "id": "test_id_filter",
    "marker": "test_paging_by_marker_is_exact_in_every_order",
    "limit": "test_limit_default_and_maximum",
    "sort_key": "test_sorting_by_every_key_in_both_directions",
    "sort_dir": "test_sorting_by_every_key_in_both_directions",
}


def test_every_issue_parameter_has_a_case() -> None:
    covered = set().union(*(set(query) for query, _, _ in FILTER_CASES.values()))
    covered |= set(TESTED_APART)
    assert set(ISSUE_PARAMETERS) <= covered, set(ISSUE_PARAMETERS) - covered
    assert all(callable(globals().get(test)) for test in TESTED_APART.values())


@pytest.mark.parametrize("case", list(FILTER_CASES), ids=list(FILTER_CASES))
def test_filter_keeps_what_matches_and_drops_the_rest(server: Server, case: str) -> None:
    query, keep_fields, drop_fields = FILTER_CASES[case]
    keep, drop = image(**keep_fields), image(**drop_fields)
    load(server.database_url, [keep, drop])
    c = server.client("p1")  # a common user: public images are visible to it
    assert sorted(ids(c.get("/v2/cloudimages"))) == sorted([keep["id"], drop["id"]])
    assert ids(c.get("/v2/cloudimages", params=query)) == [keep["id"]]


def test_id_filter(server: Server) -> None:
    a, b = image(), image()
    load(server.database_url, [a, b])
    c = server.client("p1")
    assert ids(c.get("/v2/cloudimages", params={"id": b["id"]})) == [b["id"]]
    assert ids(c.get("/v2/cloudimages", params={"id": str(uuid.uuid4())})) == []


def test_enterprise_project_all_granted_eps_spans_every_project(server: Server) -> None:
    docs = [image(enterprise_project_id="0"), image(enterprise_project_id=EP), image()]
    load(server.database_url, docs)
    c = server.client("p1")
    got = ids(c.get("/v2/cloudimages", params={"enterprise_project_id": "all_granted_eps"}))
    assert sorted(got) == sorted(d["id"] for d in docs)


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ("gt", ["late"]),
        ("gte", ["late", "mid"]),
        ("lt", ["early"]),
        ("lte", ["mid", "early"]),
        ("eq", ["mid"]),
        ("neq", ["late", "early"]),
    ],
)
@pytest.mark.parametrize("field", ["created_at", "updated_at"])
@pytest.mark.parametrize("form", ["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S"])
def test_time_filters_with_every_operator_and_both_formats(
    server: Server, op: str, expected: list[str], field: str, form: str
) -> None:
    from datetime import UTC, datetime

    mid = times.parse("2018-10-28T10:00:00Z")
    docs = {}
    for label, offset in (("early", -1), ("mid", 0), ("late", 1)):
        stamp = times.render(mid + offset)
        # the other time field is the same for all three, so only `field` can tell them apart
        other = "updated_at" if field == "created_at" else "created_at"
        docs[label] = image(name=label, **{field: stamp, other: "2018-10-28T10:00:00Z"})
    load(server.database_url, docs.values())
    when = datetime.fromtimestamp(mid, UTC).strftime(form)
    r = server.client("p1").get(
        "/v2/cloudimages", params={field: f"{op}:{when}", "sort_key": "name"}
    )
    by_id = {d["id"]: label for label, d in docs.items()}
    assert sorted(by_id[i] for i in ids(r)) == sorted(expected)


def test_time_filters_repeated_make_a_range(server: Server) -> None:
    docs = [image(created_at=f"2018-10-0{d}T00:00:00Z") for d in (1, 2, 3, 4)]
    load(server.database_url, docs)
    r = server.client("p1").get(
        "/v2/cloudimages",
        params=[
            ("created_at", "gt:2018-10-01T00:00:00Z"),
            ("created_at", "lt:2018-10-04 00:00:00"),
        ],
    )
    assert ids(r) == [docs[2]["id"], docs[1]["id"]]


def test_tags_repeated_must_all_match(server: Server) -> None:
    both, one = image(tags=["a", "b"]), image(tags=["a"])
    load(server.database_url, [both, one])
    r = server.client("p1").get("/v2/cloudimages", params=[("tag", "a"), ("tag", "b")])
    assert ids(r) == [both["id"]]


def test_flavor_rule(server: Server) -> None:
    """`flavor_id` keeps the public, active ECS system-disk images that fit the flavor's
    memory and disk, match its architecture and carry every attribute it requires."""
    kvm = {"__support_kvm": "true"}
    fits = {
        "kvm": image(name="kvm", **kvm),
        "kvm and xen": image(name="kvm and xen", __support_xen="true", **kvm),
        "big ram ok": image(name="big ram ok", min_ram=4096, **kvm),
    }
    misfits = {
        "xen only": image(name="xen only", __support_xen="true"),
        "too much ram": image(name="too much ram", min_ram=4097, **kvm),
        "arm": image(name="arm", __support_arm="true", **kvm),
        "private": private("p1", name="private", **kvm),
        "data disk": image(name="data disk", virtual_env_type="DataImage", **kvm),
        "bare metal": image(name="bare metal", virtual_env_type="Ironic", **kvm),
        "iso": image(name="iso", virtual_env_type="IsoImage", **kvm),
        "queued": image(name="queued", status="queued", **kvm),
        "gpu": image(name="gpu", __support_kvm_gpu_type="V100_vGPU"),
    }
    load(server.database_url, [*fits.values(), *misfits.values()])
    c = server.client("p1")

    def names(flavor: str, **extra: str) -> list[str]:
        r = c.get("/v2/cloudimages", params={"flavor_id": flavor, "sort_key": "name", **extra})
        return [i["name"] for i in r.json()["images"]]

    assert names("s6.large.2") == sorted(fits, reverse=True)
    assert names("s6.large.2", __support_xen="true") == ["kvm and xen"]  # ANDed with filters
    assert names("s6.medium.2") == ["kvm and xen", "kvm"]  # 2 GiB: the 4 GiB image does not fit
    assert names("kc1.large.2") == ["arm"]
    assert names("g5.8xlarge.4") == ["gpu"]
    assert names("s1.medium") == ["xen only", "kvm and xen"]
    assert names("e3.7xlarge.12") == []  # nothing supports large memory
    assert names("p1.2xlarge.8") == []


def test_flavor_catalog_is_replaced_by_openims_flavors(
    backend: str, db_url: str, tmp_path: Any
) -> None:
    from tests.support.servers import start_server

    catalog = tmp_path / "flavors.json"
    catalog.write_text(
        '{"flavors": [{"id": "op.small", "vcpus": 2, "ram_mb": 2048, "disk_gb": 50,'
        ' "arch": "x86", "requires": {"__support_op_board": "true"}}]}'
    )
    small = image(name="small", __support_op_board="true", min_disk=40)
    big_disk = image(name="big disk", __support_op_board="true", min_disk=60)
    other = image(name="other", __support_kvm="true")
    load(db_url, [small, big_disk, other])
    srv = start_server(db_url, tmp_path, auth=False, env={"OPENIMS_FLAVORS": str(catalog)})
    try:
        c = srv.client("p1")
        assert ids(c.get("/v2/cloudimages", params={"flavor_id": "op.small"})) == [small["id"]]
        r = c.get("/v2/cloudimages", params={"flavor_id": "s6.large.2"})  # not in this catalog
        assert r.status_code == 400 and r.json()["error"]["code"] == "IMG.0192"
    finally:
        srv.stop()


def test_a_bad_flavor_catalog_stops_the_server_with_the_reason(db_url: str, tmp_path: Any) -> None:
    from tests.support.servers import start_server

    catalog = tmp_path / "flavors.json"
    catalog.write_text(
        '{"flavors": [{"id": "x", "vcpus": 1, "ram_mb": 1, "disk_gb": 1,'
        ' "requires": {"__supprot_kvm": "true"}}]}'
    )
    with pytest.raises(RuntimeError, match="__supprot_kvm"):
        start_server(db_url, tmp_path, auth=False, env={"OPENIMS_FLAVORS": str(catalog)})


# --- visibility ------------------------------------------------------------------------------


def _visibility_catalog() -> dict[str, dict[str, Any]]:
    return {
        "gold": image(name="gold"),
        "gold unprotected": image(name="gold unprotected", protected=False),
        "gold unregistered": image(name="gold unregistered", __isregistered="false"),
        "market": image(name="market", __imagetype="market", protected=False),
        "p1 private": private("p1", name="p1 private"),
        "p1 unregistered": private("p1", name="p1 unregistered", __isregistered="false"),
        "p1 shared out": shared("p1", {"p2": "accepted"}, name="p1 shared out"),
        "p2 private": private("p2", name="p2 private"),
        "to p1 accepted": shared("p2", {"p1": "accepted", "p3": "pending"}, name="to p1 accepted"),
        "to p1 rejected": shared("p2", {"p1": "rejected"}, name="to p1 rejected"),
        "to p1 pending": shared("p3", {"p1": "pending"}, name="to p1 pending"),
        "to p2 only": shared("p3", {"p2": "accepted"}, name="to p2 only"),
        "to p1 unregistered": shared(
            "p2", {"p1": "accepted"}, name="to p1 unregistered", __isregistered="false"
        ),
    }


def _names(
    server: Server, project: str, params: dict[str, str], roles: str | None = None
) -> set[str]:
    r = server.client(project, roles=roles).get("/v2/cloudimages", params=params)
    assert r.status_code == 200, r.text
    return {i["name"] for i in r.json()["images"]}


def test_the_five_common_query_methods(server: Server) -> None:
    """The seed's "Common Query Methods", each returning exactly what its name says."""
    load(server.database_url, _visibility_catalog().values())
    public = {"__imagetype": "gold", "visibility": "public", "protected": "true"}
    assert _names(server, "p1", public) == {"gold"}
    assert _names(server, "p1", {"owner": "p1"}) == {"p1 private", "p1 shared out"}
    for status, expected in (
        ("accepted", {"to p1 accepted"}),
        ("rejected", {"to p1 rejected"}),
        ("pending", {"to p1 pending"}),
    ):
        query = {"member_status": status, "visibility": "shared", "__imagetype": "shared"}
        assert _names(server, "p1", query) == expected, status
    # the same questions asked by another tenant get that tenant's answers
    accepted = {"member_status": "accepted", "visibility": "shared", "__imagetype": "shared"}
    assert _names(server, "p2", accepted) == {"p1 shared out", "to p2 only"}
    assert _names(server, "p3", {**accepted, "member_status": "pending"}) == {"to p1 accepted"}
    assert _names(server, "p2", {"owner": "p2"}) == {
        "to p1 accepted",
        "to p1 rejected",
        "p2 private",
    }


def test_visibility_by_caller(server: Server) -> None:
    catalog = _visibility_catalog()
    load(server.database_url, catalog.values())
    default_p1 = {
        "gold",
        "gold unprotected",
        "market",
        "p1 private",
        "p1 shared out",
        "to p1 accepted",
    }
    assert _names(server, "p1", {}) == default_p1
    assert _names(server, "p1", {"visibility": "public"}) == {"gold", "gold unprotected", "market"}
    assert _names(server, "p1", {"visibility": "private"}) == {"p1 private"}
    assert _names(server, "p1", {"visibility": "shared"}) == {"p1 shared out", "to p1 accepted"}
    assert _names(server, "p1", {"__imagetype": "private"}) == {"p1 private"}
    # another tenant's private image stays hidden whatever the filter
    assert _names(server, "p1", {"owner": "p2", "visibility": "private"}) == set()
    assert _names(server, "p1", {"id": catalog["p2 private"]["id"]}) == set()
    # an admin sees everything, registered or not
    assert _names(server, "admin-project", {}, roles="admin") == set(catalog)
    assert _names(server, "admin-project", {"visibility": "private"}, roles="admin") == {
        "p1 private",
        "p1 unregistered",
        "p2 private",
    }


def test_isregistered_defaults_to_true_for_common_users_only(server: Server) -> None:
    catalog = _visibility_catalog()
    load(server.database_url, catalog.values())
    unregistered = {"gold unregistered", "p1 unregistered", "to p1 unregistered"}
    assert not _names(server, "p1", {}) & unregistered
    assert _names(server, "p1", {"__isregistered": "false"}) == set()  # common users: true only
    assert _names(server, "p1", {"__isregistered": "true"}) == _names(server, "p1", {})
    admin = "admin-project"
    assert _names(server, admin, {"__isregistered": "false"}, roles="admin") == unregistered
    assert (
        _names(server, admin, {"__isregistered": "true"}, roles="admin")
        == set(catalog) - unregistered
    )


# --- sorting and paging ----------------------------------------------------------------------


def _sort_catalog() -> list[dict[str, Any]]:
    """Ties on every sort key (and on created_at) so the tie-breakers decide."""
    same_time = "2018-09-06T14:03:27Z"
    return [
        image(name="b", container_format="bare", disk_format="zvhd2", status="active", size=5),
        image(name="B", container_format="ovf", disk_format="qcow2", status="queued", size=ABSENT),
        image(name="a", container_format="bare", disk_format="qcow2", status="active", size=0),
        image(
            name="b",
            container_format="ovf",
            disk_format="raw",
            status="killed",
            size=5,
            created_at=same_time,
        ),
        image(
            name="镜像",
            container_format="bare",
            disk_format="raw",
            status="saving",
            size=1,
            created_at=same_time,
        ),
        image(
            name="b",
            container_format="bare",
            disk_format="zvhd2",
            status="active",
            size=5,
            created_at=same_time,
        ),
        image(name="a b", container_format="bare", disk_format="iso", status="queued", size=7),
    ]


FILL = {"size": 0, "name": ""}  # what a missing value sorts as


def _expected_order(docs: list[dict[str, Any]], key: str, desc: bool) -> list[str]:
    def sort_key(d: dict[str, Any]) -> tuple[Any, ...]:
        created = times.parse(d["created_at"])
        if key == "id":
            return (d["id"],)
        if key == "created_at":
            return (created, d["id"])
        value = d.get(key)
        return (FILL.get(key) if value is None else value, created, d["id"])

    return [d["id"] for d in sorted(docs, key=sort_key, reverse=desc)]


@pytest.mark.parametrize(
    "key",
    ["name", "container_format", "disk_format", "status", "id", "size", "created_at", "create_at"],
)
def test_sorting_by_every_key_in_both_directions(server: Server, key: str) -> None:
    docs = _sort_catalog()
    load(server.database_url, docs)
    c = server.client("p1")
    real_key = "created_at" if key == "create_at" else key  # the older edition's spelling
    for direction in ("asc", "desc"):
        got = ids(c.get("/v2/cloudimages", params={"sort_key": key, "sort_dir": direction}))
        assert got == _expected_order(docs, real_key, direction == "desc"), direction
    only_key = ids(c.get("/v2/cloudimages", params={"sort_key": key}))
    assert only_key == _expected_order(docs, real_key, True)  # sort_dir defaults to desc


def test_default_order_is_newest_first(server: Server) -> None:
    docs = _sort_catalog()
    load(server.database_url, docs)
    assert ids(server.client("p1").get("/v2/cloudimages")) == _expected_order(
        docs, "created_at", True
    )


@pytest.mark.parametrize("key", ["name", "size", "created_at", "status"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_paging_by_marker_is_exact_in_every_order(server: Server, key: str, direction: str) -> None:
    docs = _sort_catalog()
    load(server.database_url, docs)
    expected = _expected_order(docs, key, direction == "desc")
    c = server.client("p1")
    for limit in (1, 2, 3, 7):
        pages = page_all(c, [("sort_key", key), ("sort_dir", direction)], limit)
        assert [i for p in pages for i in p] == expected, limit
        assert all(len(p) == limit for p in pages[:-1])


def test_paging_is_stable_under_inserts_between_pages(server: Server) -> None:
    """Keyset paging: images created while a client pages never shift the pages it has not
    read yet. Every original image is seen exactly once, in order; new images appear only
    where they sort after the marker."""
    originals = [
        image(name=f"img-{i:02d}", owner="p1", visibility="private", **{"__imagetype": "private"})
        for i in range(10)
    ]
    load(server.database_url, originals)
    c = server.client("p1")
    seen: list[str] = []
    marker = None
    inserted = 0
    while True:
        params = {"sort_key": "name", "sort_dir": "asc", "limit": "3"}
        if marker:
            params["marker"] = marker
        page = c.get("/v2/cloudimages", params=params).json()["images"]
        seen += [i["name"] for i in page]
        if len(page) < 3:
            break
        marker = page[-1]["id"]
        # insert before the marker (never to be seen), right after it and at the very end
        for name in (f"img-00-{inserted}", f"{page[-1]['name']}-{inserted}", f"zz-{inserted}"):
            r = c.post("/v2/images", json={"name": name})
            assert r.status_code == 201, r.text
        inserted += 1
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen)
    assert [n for n in seen if n in {d["name"] for d in originals}] == [
        d["name"] for d in originals
    ]
    assert not [n for n in seen if n.startswith("img-00-")]  # inserted behind the reader
    assert [n for n in seen if n.startswith("zz-")]  # inserted ahead: reached in order


def test_paging_with_filters_and_default_order(server: Server) -> None:
    docs = [image(name=f"n{i}", __support_kvm="true" if i % 3 else ABSENT) for i in range(11)]
    load(server.database_url, docs)
    expected = [d["id"] for d in reversed(docs) if d.get("__support_kvm")]
    pages = page_all(server.client("p1"), [("__support_kvm", "true")], 2)
    assert [i for p in pages for i in p] == expected


def test_marker_errors(server: Server) -> None:
    hidden = private("p2")
    load(server.database_url, [image(), hidden])
    c = server.client("p1")
    for marker in (str(uuid.uuid4()), "not-an-id", hidden["id"]):
        r = c.get("/v2/cloudimages", params={"marker": marker})
        assert r.status_code == 400
        assert r.json() == {
            "error": {"message": f"No image found with ID {marker}", "code": "IMG.0027"}
        }


def test_limit_default_and_maximum(server: Server) -> None:
    load(server.database_url, (image(name=f"i{n}") for n in range(1001)))
    c = server.client("p1")
    assert len(ids(c.get("/v2/cloudimages"))) == 500
    assert len(ids(c.get("/v2/cloudimages", params={"limit": "1000"}))) == 1000
    assert len(ids(c.get("/v2/cloudimages", params={"limit": "7"}))) == 7
    assert ids(c.get("/v2/cloudimages", params={"limit": "0"})) == []
    r = c.get("/v2/cloudimages", params={"limit": "1001"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "IMG.0001"


# --- the response -----------------------------------------------------------------------------


def test_documents_render_exactly_as_in_the_seed_example(server: Server) -> None:
    load(server.database_url, [QUERY_EXAMPLE])
    r = server.client("p1").get("/v2/cloudimages", params={"__imagetype": "gold", "limit": "1"})
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert list(body) == ["images"]
    (doc,) = body["images"]
    assert {k: doc[k] for k in QUERY_EXAMPLE} == QUERY_EXAMPLE
    # the list serves the same bytes as the single-image API
    single = server.client("p1").get(f"/v2/images/{QUERY_EXAMPLE['id']}")
    assert r.content == b'{"images":[' + single.content + b"]}"


def test_empty_list(server: Server) -> None:
    r = server.client("p1").get("/v2/cloudimages")
    assert r.status_code == 200 and r.json() == {"images": []}


# --- validation -------------------------------------------------------------------------------

BAD_QUERIES: list[tuple[dict[str, str] | list[tuple[str, str]], str, str]] = [
    ({"limit": "abc"}, "IMG.0001", "limit param must be an integer"),
    ({"limit": "1.5"}, "IMG.0001", "limit param must be an integer"),
    ({"limit": ""}, "IMG.0001", "limit param must be an integer"),
    ({"limit": "-1"}, "IMG.0001", "limit param must be positive"),
    ({"limit": "1001"}, "IMG.0001", "limit param must be at most 1000"),
    ([("limit", "1"), ("limit", "2")], "IMG.0001", "'limit' may be given only once"),
    ({"sort_key": "updated_at"}, "IMG.0001", "Invalid sort key: updated_at."),
    ({"sort_key": "__os_type"}, "IMG.0001", "Invalid sort key: __os_type."),
    ({"sort_dir": "ASC"}, "IMG.0001", "Invalid sort direction: ASC"),
    ({"marker": "00000000-0000-0000-0000-000000000000"}, "IMG.0027", "No image found with ID"),
    ({"visibility": "community"}, "IMG.0001", "Invalid visibility value: community"),
    (
        [("visibility", "public"), ("visibility", "private")],
        "IMG.0001",
        "'visibility' may be given only once",
    ),
    (
        {"member_status": "accepted"},
        "IMG.0001",
        "member_status can only be used together with visibility=shared",
    ),
    (
        {"member_status": "accepted", "visibility": "public"},
        "IMG.0001",
        "member_status can only be used",
    ),
    (
        {"member_status": "maybe", "visibility": "shared"},
        "IMG.0001",
        "Invalid member_status value: maybe",
    ),
    ({"__isregistered": "yes"}, "IMG.0001", "Invalid value 'yes' for '__isregistered'"),
    ({"__imagetype": "public"}, "IMG.0024", "The imagetype is invalid."),
    ({"__whole_image": "1"}, "IMG.0001", "Invalid value '1' for '__whole_image' filter."),
    ({"protected": "maybe"}, "IMG.0001", "Invalid value 'maybe' for 'protected' filter."),
    ({"status": "ACTIVE"}, "IMG.0001", "Invalid value 'ACTIVE' for 'status'"),
    ({"container_format": "box"}, "IMG.0001", "Invalid value 'box' for 'container_format'"),
    ({"disk_format": "vhdx"}, "IMG.0001", "Invalid value 'vhdx' for 'disk_format'"),
    ({"min_ram": "lots"}, "IMG.0055", "Invalid value for 'min_ram'"),
    ({"min_disk": "4.5"}, "IMG.0055", "Invalid value for 'min_disk'"),
    ({"__os_bit": "16"}, "IMG.0001", "Invalid value '16' for '__os_bit'"),
    ({"__platform": "Windows 10"}, "IMG.0001", "Invalid value 'Windows 10' for '__platform'"),
    ({"__os_type": "linux"}, "IMG.0122", "Invalid value for '__os_type'"),
    ({"virtual_env_type": "KVM"}, "IMG.0001", "Invalid value 'KVM' for 'virtual_env_type'"),
    ({"id": "not-a-uuid"}, "IMG.0001", "Invalid value 'not-a-uuid' for 'id': a UUID is expected"),
    ({"max_ram": "4 GB"}, "IMG.0055", "Invalid value for 'max_ram': '4 GB': a number is expected"),
    ({"enterprise_project_id": "default"}, "IMG.0001", "Invalid enterprise_project_id: default"),
    ({"architecture": "aarch64"}, "IMG.0212", "The architecture must be x86 or arm."),
    ({"architecture": "ARM"}, "IMG.0212", "The architecture must be x86 or arm."),
    (
        {"flavor_id": "no.such.flavor"},
        "IMG.0192",
        "The flavor no.such.flavor used to query images is invalid.",
    ),
    (
        [("flavor_id", "s6.large.2"), ("flavor_id", "c6.large.2")],
        "IMG.0001",
        "'flavor_id' may be given only once",
    ),
    ({"created_at": "gt:yesterday"}, "IMG.0001", 'Bad "created_at" query filter format.'),
    ({"created_at": "gt:2018-10-28T10:00:00"}, "IMG.0001", 'Bad "created_at" query filter format.'),
    (
        {"created_at": "gt:2018-13-28T10:00:00Z"},
        "IMG.0001",
        'Bad "created_at" query filter format.',
    ),
    (
        {"created_at": "after:2018-10-28T10:00:00Z"},
        "IMG.0001",
        "Invalid operator 'after' for 'created_at'",
    ),
    (
        {"updated_at": "GT:2018-10-28T10:00:00Z"},
        "IMG.0001",
        'Bad "updated_at" query filter format.',
    ),
    ({"updated_at": ""}, "IMG.0001", 'Bad "updated_at" query filter format.'),
    ({"__support_arm": "yes"}, "IMG.0001", "Invalid value 'yes' for '__support_arm'"),
    ({"self": "x"}, "IMG.0001", "'self' cannot be used as a filter"),
    ({"name": "x" * 1025}, "IMG.0001", "The value of 'name' is longer than 1024 characters"),
]


@pytest.mark.parametrize(
    ("params", "code", "message"), BAD_QUERIES, ids=[str(q[0])[:60] for q in BAD_QUERIES]
)
def test_bad_queries_are_400_with_the_ims_error_body(
    server: Server, params: Any, code: str, message: str
) -> None:
    load(server.database_url, [image()])
    r = server.client("p1").get("/v2/cloudimages", params=params)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-request-id"].startswith("req-")
    body = r.json()
    assert list(body) == ["error"] and list(body["error"]) == ["message", "code"]
    assert body["error"]["code"] == code
    assert body["error"]["message"].startswith(message), body


def test_admin_validation_is_the_same(server: Server) -> None:
    r = server.admin().get("/v2/cloudimages", params={"member_status": "pending"})
    assert r.status_code == 400


def test_unknown_parameters_are_exact_property_filters(server: Server) -> None:
    team = image(team="blue")
    load(server.database_url, [team, image()])
    c = server.client("p1")
    assert ids(c.get("/v2/cloudimages", params={"team": "blue"})) == [team["id"]]
    assert ids(c.get("/v2/cloudimages", params={"team": "Blue"})) == []
