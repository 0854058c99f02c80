"""The query rules of the Glance list `GET /v2/images` over HTTP, on SQLite and PostgreSQL,
where Glance's own code decides them: ISO 8601 time filters, `limit` and the size ranges read
with Python's int(), and the sort keys, directions and tie-breakers of `_get_sorting_params`
and `image_get_all` (docs/images.md)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from openims.domain import query
from tests.support.catalogs import ABSENT, load, private
from tests.support.fixtures import server_fixture
from tests.support.servers import Server

# These tests look only at requests and responses: the application in this process serves them
# (tests.support.in_process; `pytest --real-servers` uses an `openims serve` process instead).
server = server_fixture("server", in_process=True)

GLANCE_TIME_ERROR = 'Bad "{}" query filter format. Use ISO 8601 DateTime notation.'


def names(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [i["name"] for i in r.json()["images"]]


def error(r: httpx.Response) -> str:
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "code", "title"} and err["code"] == "IMG.0001"
    return str(err["message"])


# --- created_at / updated_at ----------------------------------------------------------------
# For each time field, a project of that name owns three images a second apart around
# 2018-09-17T00:13:43Z and one at 2018-01-01T00:00:00Z in that field; their other time field is
# the same, so only the filtered one can tell them apart.
TIMES = {
    "new-year": "2018-01-01T00:00:00Z",
    "early": "2018-09-17T00:13:42Z",
    "mid": "2018-09-17T00:13:43Z",
    "late": "2018-09-17T00:13:44Z",
}


@pytest.fixture
def timed(server: Server) -> Server:
    docs = []
    for label, stamp in TIMES.items():
        for field, other in (("created_at", "updated_at"), ("updated_at", "created_at")):
            fields = {field: stamp, other: "2018-05-01T00:00:00Z"}
            docs.append(private(field, name=label, **fields))
    load(server.database_url, docs)
    return server


def _filtered(server: Server, field: str, value: str) -> list[str]:
    return sorted(names(server.client(field).get("/v2/images", params={field: value})))


@pytest.mark.parametrize("field", ["created_at", "updated_at"])
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2018-09-17T00:13:43Z", ["mid"]),
        ("eq:2018-09-17T00:13:43Z", ["mid"]),
        ("2018-09-17T00:13:43", ["mid"]),  # no zone: UTC
        ("2018-09-17 00:13:43", ["mid"]),
        ("2018-09-17T00:13:43+00:00", ["mid"]),
        # an offset with colons and no operator is still one time (Glance's split_filter_op)
        ("2018-09-17T08:13:43+08:00", ["mid"]),
        ("2018-09-17T08:13:43+0800", ["mid"]),
        ("2018-09-16T19:13:43-05:00", ["mid"]),
        ("gte:2018-09-17T08:13:43+08:00", ["late", "mid"]),
        ("lt:2018-09-16T19:13:43-05:00", ["early", "new-year"]),
        ("2018-01-01", ["new-year"]),  # a date alone is its midnight
        ("gt:2018-01-01", ["early", "late", "mid"]),
        ("lte:2018-09-17T00:13Z", ["new-year"]),  # minutes only: :00 seconds
        ("gte:2018-09-17T00:13Z", ["early", "late", "mid"]),
        ("gt:2018-09-17T00:13:42Z", ["late", "mid"]),
        ("neq:2018-09-17T00:13:43Z", ["early", "late", "new-year"]),
    ],
)
def test_time_filters_take_iso_8601(
    timed: Server, field: str, value: str, expected: list[str]
) -> None:
    assert _filtered(timed, field, value) == expected


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        # 00:13:43.5 lies between two stored seconds: no stored time equals it
        ("gt", ["late"]),
        ("gte", ["late"]),
        ("lt", ["early", "mid", "new-year"]),
        ("lte", ["early", "mid", "new-year"]),
        ("eq", []),
        ("neq", ["early", "late", "mid", "new-year"]),
    ],
)
@pytest.mark.parametrize(
    "when", ["2018-09-17T00:13:43.5Z", "2018-09-17T08:13:43,5+08:00", "2018-09-17T00:13:43.000001"]
)
def test_a_fraction_of_a_second_compares_exactly(
    timed: Server, op: str, expected: list[str], when: str
) -> None:
    assert _filtered(timed, "created_at", f"{op}:{when}") == expected


@pytest.mark.parametrize("op", query.TIME_OPS)
def test_a_zero_fraction_is_the_whole_second(timed: Server, op: str) -> None:
    whole = _filtered(timed, "created_at", f"{op}:2018-09-17T00:13:43Z")
    assert _filtered(timed, "created_at", f"{op}:2018-09-17T00:13:43.000Z") == whole
    # pyiso8601 keeps six digits: a seventh is dropped, as in Glance
    assert _filtered(timed, "created_at", f"{op}:2018-09-17T00:13:43.0000009Z") == whole


def test_a_range_of_two_time_filters(timed: Server) -> None:
    r = timed.client("created_at").get(
        "/v2/images",
        params=[
            ("created_at", "gt:2018-09-17T08:13:41.9+08:00"),
            ("created_at", "lt:2018-09-17T00:13:43.1Z"),
            ("sort", "name:asc"),
        ],
    )
    assert names(r) == ["early", "mid"]


@pytest.mark.parametrize("field", ["created_at", "updated_at"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("gt:not-a-date", GLANCE_TIME_ERROR),
        ("not-a-date", GLANCE_TIME_ERROR),
        ("", GLANCE_TIME_ERROR),
        ("2018-13-01", GLANCE_TIME_ERROR),
        ("2018-09-17T24:00:00Z", GLANCE_TIME_ERROR),
        ("2018-09-17T00:13:43+24:00", GLANCE_TIME_ERROR),
        ("bogus:not-a-date", GLANCE_TIME_ERROR),  # the time is read before the operator
        ("bogus:2018-09-17T00:13:43Z", "Unable to filter on a unknown operator."),
        ("GT:2018-09-17T00:13:43Z", "Unable to filter on a unknown operator."),
    ],
)
def test_bad_time_filters_are_refused_with_glances_messages(
    server: Server, field: str, value: str, message: str
) -> None:
    r = server.client().get("/v2/images", params={field: value})
    assert error(r) == message.format(field)


def test_an_unencoded_plus_is_a_space(timed: Server) -> None:
    """In a query string `+` means a space (as in Glance, which reads the query with webob):
    an offset must be sent as `%2B`."""
    client = timed.client("created_at")
    encoded = client.get("/v2/images?created_at=2018-09-17T08:13:43%2B08:00")
    assert names(encoded) == ["mid"]
    plain = client.get("/v2/images?created_at=2018-09-17T08:13:43+08:00")
    assert error(plain) == GLANCE_TIME_ERROR.format("created_at")


def test_cloudimages_keeps_its_documented_time_formats(timed: Server) -> None:
    """The IMS face is unchanged: its two documented formats and its own messages."""
    client = timed.client("created_at")
    for value in ("2018-09-17T00:13:43Z", "2018-09-17 00:13:43", "eq:2018-09-17T00:13:43Z"):
        r = client.get("/v2/cloudimages", params={"created_at": value})
        assert [i["name"] for i in r.json()["images"]] == ["mid"], value
    for value in ("2018-09-17T08:13:43+08:00", "2018-09-17T00:13:43.5Z", "2018-01-01"):
        r = client.get("/v2/cloudimages", params={"created_at": value})
        assert r.status_code == 400
        assert r.json()["error"]["message"].startswith('Bad "created_at" query filter format.')
        assert "yyyy-MM-ddThh:mm:ssZ" in r.json()["error"]["message"]


# --- limit ------------------------------------------------------------------------------------
@pytest.fixture
def twelve(server: Server) -> httpx.Client:
    load(server.database_url, [private("p1", name=f"img-{i:02d}") for i in range(12)])
    return server.client("p1")


@pytest.mark.parametrize(
    ("limit", "count"),
    [
        ("3", 3),
        ("+3", 3),
        (" 3", 3),
        ("3 ", 3),
        ("\t3\n", 3),
        ("03", 3),
        ("-0", 0),
        ("1_0", 10),  # int() takes underscores between digits (Python 3.6+), so Glance does
        ("٣", 3),  # ARABIC-INDIC DIGIT THREE: int() takes any Unicode decimal digit
        ("99999999999", 12),  # capped at 1000, silently
        ("9" * 4000, 12),
    ],
)
def test_limit_is_read_as_python_int_reads_it(twelve: httpx.Client, limit: str, count: int) -> None:
    r = twelve.get("/v2/images", params={"limit": limit})
    assert len(names(r)) == count
    body = r.json()
    assert _query(body["first"]) == {"limit": [limit]}  # the links keep the limit as sent
    if count and count < 12:  # a full page links to the next one
        assert _query(body["next"])["limit"] == [limit]
        assert len(names(twelve.get(body["next"]))) == min(count, 12 - count)
    else:
        assert "next" not in body


def _query(link: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(link).query, keep_blank_values=True)


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ("-1", "limit param must be positive"),
        ("-99999999999", "limit param must be positive"),
        (" -3 ", "limit param must be positive"),
        ("abc", "limit param must be an integer"),
        ("", "limit param must be an integer"),
        ("1.0", "limit param must be an integer"),
        ("1e3", "limit param must be an integer"),
        ("0x10", "limit param must be an integer"),
        ("1__0", "limit param must be an integer"),
        ("_10", "limit param must be an integer"),
        ("+-3", "limit param must be an integer"),
        ("9" * 4301, "limit param must be an integer"),  # Python refuses > 4300 digits
    ],
)
def test_bad_limits_get_glances_messages(server: Server, limit: str, message: str) -> None:
    assert error(server.client().get("/v2/images", params={"limit": limit})) == message


def test_cloudimages_limit_stays_strict(server: Server) -> None:
    for limit in ("+3", " 3", "1_0", "99999999999"):
        r = server.client().get("/v2/cloudimages", params={"limit": limit})
        assert r.status_code == 400, limit


# --- size_min / size_max ----------------------------------------------------------------------
@pytest.fixture
def sized(server: Server) -> httpx.Client:
    load(
        server.database_url,
        [private("p1", name=f"size-{s}", size=s) for s in (0, 5, 100)]
        + [private("p1", name="no-size", size=ABSENT)],
    )
    return server.client("p1")


BIG = "99999999999999999999"  # beyond a 64-bit integer


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"size_min": "-1"}, ["no-size", "size-0", "size-100", "size-5"]),
        ({"size_max": "-1"}, []),
        ({"size_min": "5"}, ["size-100", "size-5"]),
        ({"size_min": "+5"}, ["size-100", "size-5"]),
        ({"size_min": " 5 "}, ["size-100", "size-5"]),
        ({"size_min": "1_0"}, ["size-100"]),
        ({"size_max": "5", "size_min": "-5"}, ["no-size", "size-0", "size-5"]),
        ({"size_min": "-9223372036854775808"}, ["no-size", "size-0", "size-100", "size-5"]),
        ({"size_max": "9223372036854775807"}, ["no-size", "size-0", "size-100", "size-5"]),
        ({"size_min": BIG}, []),
        ({"size_max": BIG}, ["no-size", "size-0", "size-100", "size-5"]),
        ({"size_min": f"-{BIG}"}, ["no-size", "size-0", "size-100", "size-5"]),
        ({"size_max": f"-{BIG}"}, []),
    ],
)
def test_size_ranges_take_any_integer(
    sized: httpx.Client, params: dict[str, str], expected: list[str]
) -> None:
    assert sorted(names(sized.get("/v2/images", params=params))) == expected


@pytest.mark.parametrize("value", ["abc", "", "1.5", "1e3", "0x10", "--1"])
@pytest.mark.parametrize("name", ["size_min", "size_max"])
def test_non_numeric_size_ranges_are_refused(server: Server, name: str, value: str) -> None:
    r = server.client().get("/v2/images", params={name: value})
    assert error(r) == "Unable to filter on a range with a non-numeric value."


# --- sorting ----------------------------------------------------------------------------------
# Images whose name and size tie in pairs, so that the direction of every key and of the
# tie-breakers (created_at, then id) shows in the order.
SORTED = [  # (label, name, size, created second)
    ("a1", "a", 1, 1),
    ("a2", "a", 1, 2),
    ("b1", "b", 1, 3),
    ("b2", "b", 2, 4),
    ("c1", "c", 2, 5),
    ("c2", "c", 2, 6),
]


@pytest.fixture
def sortable(server: Server) -> httpx.Client:
    load(
        server.database_url,
        [
            private(
                "p1",
                name=name,
                size=size,
                description=label,
                created_at=f"2018-09-17T00:00:0{second}Z",
                updated_at="2018-09-17T00:00:00Z",
            )
            for label, name, size, second in SORTED
        ],
    )
    return server.client("p1")


def labels(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [i["description"] for i in r.json()["images"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ([], ["c2", "c1", "b2", "b1", "a2", "a1"]),  # created_at desc
        ([("sort_dir", "asc")], ["a1", "a2", "b1", "b2", "c1", "c2"]),
        ([("sort_key", "name")], ["c2", "c1", "b2", "b1", "a2", "a1"]),
        # one sort_dir: every key and the tie-breakers take it
        ([("sort_key", "name"), ("sort_dir", "asc")], ["a1", "a2", "b1", "b2", "c1", "c2"]),
        (
            [("sort_key", "size"), ("sort_key", "name"), ("sort_dir", "asc")],
            ["a1", "a2", "b1", "b2", "c1", "c2"],
        ),
        # as many sort_dirs as keys: the tie-breakers are desc, whatever the keys' directions
        (
            [("sort_key", "name"), ("sort_dir", "asc"), ("sort_key", "size"), ("sort_dir", "asc")],
            ["a2", "a1", "b1", "b2", "c2", "c1"],
        ),
        (
            [("sort_key", "size"), ("sort_key", "name"), ("sort_dir", "desc"), ("sort_dir", "asc")],
            ["b2", "c2", "c1", "a2", "a1", "b1"],
        ),
        ([("sort_key", " name "), ("sort_dir", " asc ")], ["a1", "a2", "b1", "b2", "c1", "c2"]),
        # new syntax: a key without a direction is desc
        ([("sort", "name")], ["c2", "c1", "b2", "b1", "a2", "a1"]),
        ([("sort", "name:asc")], ["a1", "a2", "b1", "b2", "c1", "c2"]),  # one dir: ties asc
        ([("sort", "name:asc,size:asc")], ["a2", "a1", "b1", "b2", "c2", "c1"]),  # ties desc
        ([("sort", "size:asc,name")], ["b1", "a2", "a1", "c2", "c1", "b2"]),
        ([("sort", " size : asc , name : asc ")], ["a2", "a1", "b1", "b2", "c2", "c1"]),
        ([("sort", "name:")], ["c2", "c1", "b2", "b1", "a2", "a1"]),
        ([("sort", "created_at:asc,id:desc")], ["a1", "a2", "b1", "b2", "c1", "c2"]),
        # a key given twice counts where it first appears
        (
            [("sort_key", "name"), ("sort_key", "name"), ("sort_dir", "asc"), ("sort_dir", "desc")],
            ["a2", "a1", "b2", "b1", "c2", "c1"],
        ),
    ],
)
def test_sort_keys_directions_and_tie_breakers(
    sortable: httpx.Client, params: list[tuple[str, str]], expected: list[str]
) -> None:
    assert labels(sortable.get("/v2/images", params=tuple(params))) == expected


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([("sort_dir", "asc"), ("sort_dir", "desc")], "Number of sort dirs does not match"),
        (
            [("sort_key", "name"), ("sort_dir", "asc"), ("sort_dir", "desc")],
            "Number of sort dirs does not match",
        ),
        (
            [
                ("sort_key", "name"),
                ("sort_key", "size"),
                ("sort_key", "id"),
                ("sort_dir", "asc"),
                ("sort_dir", "desc"),
            ],
            "Number of sort dirs does not match",
        ),
        # keys are checked before directions, directions before their number
        ([("sort_key", "bogus"), ("sort_dir", "x"), ("sort_dir", "y")], "Invalid sort key: bogus"),
        ([("sort_key", "name"), ("sort_dir", "x"), ("sort_dir", "y")], "Invalid sort direction: x"),
        ([("sort", "name: ,size")], "Invalid sort direction: "),
        ([("sort", "")], "Invalid sort key: ."),
        ([("sort", "name"), ("sort_dir", "asc")], "Old and new sorting syntax cannot be combined"),
    ],
)
def test_bad_sorts_are_refused(server: Server, params: list[tuple[str, str]], message: str) -> None:
    got = error(server.client().get("/v2/images", params=tuple(params)))
    assert got.startswith(message)
    if message.startswith("Number"):
        assert got == "Number of sort dirs does not match the number of sort keys"


@pytest.mark.parametrize(
    "params",
    [
        [("sort_key", "name"), ("sort_dir", "asc"), ("sort_key", "size"), ("sort_dir", "asc")],
        [("sort_key", "size"), ("sort_key", "name"), ("sort_dir", "desc"), ("sort_dir", "asc")],
        [("sort", "size:asc,name")],
        [("sort", "name:asc,size:asc")],
        [("sort", "updated_at:asc,name:desc")],
    ],
)
@pytest.mark.parametrize("limit", [1, 2, 4])
def test_next_links_walk_every_image_once_in_mixed_directions(
    sortable: httpx.Client, params: list[tuple[str, str]], limit: int
) -> None:
    whole = labels(sortable.get("/v2/images", params=tuple(params)))
    body: dict[str, Any] = sortable.get("/v2/images", params=[*params, ("limit", limit)]).json()
    walked = [i["description"] for i in body["images"]]
    while "next" in body:
        body = sortable.get(body["next"]).json()
        walked += [i["description"] for i in body["images"]]
    assert walked == whole and len(set(walked)) == len(SORTED)


# --- an empty value and a missing one ----------------------------------------------------------
def test_an_empty_value_matches_images_that_have_it_not_images_without_the_attribute(
    server: Server,
) -> None:
    """Sort columns store a missing value as their fill (`''`), so the column alone cannot
    tell `"name": ""` from no name, or `"__os_version": ""` from none: the filter asks the
    document as well, on both faces."""
    load(
        server.database_url,
        [
            private("p1", name="", __os_version=""),
            private("p1", name=ABSENT, __os_version=ABSENT),
            private("p1", name="x", __os_version="CentOS 7.6 64bit"),
        ],
    )
    c = server.client("p1")

    def found(path: str, params: dict[str, str]) -> list[Any]:
        r = c.get(path, params=params)
        assert r.status_code == 200, r.text
        return sorted(
            ((i.get("name"), i.get("__os_version")) for i in r.json()["images"]), key=repr
        )

    assert found("/v2/images", {"name": ""}) == [("", "")]
    assert found("/v2/images", {"name": 'in:"",x'}) == [("", ""), ("x", "CentOS 7.6 64bit")]
    assert found("/v2/images", {"__os_version": ""}) == [("", "")]
    assert found("/v2/cloudimages", {"__os_version": ""}) == [("", "")]
    assert found("/v2/cloudimages", {"name": ""}) == [("", "")]
    assert found("/v2/cloudimages", {"__os_version": "CentOS 7.6 64bit"}) == [
        ("x", "CentOS 7.6 64bit")
    ]
