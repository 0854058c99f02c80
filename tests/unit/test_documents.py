"""Image documents: checking, defaults, canonical order and rendering."""

from __future__ import annotations

import copy
import functools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openims import errors
from openims.domain import documents, registry, times
from tests.support.seeds import PATCH_EXAMPLE, QUERY_EXAMPLE


@pytest.mark.parametrize("example", [PATCH_EXAMPLE, QUERY_EXAMPLE])
def test_seed_examples_keep_every_key_and_value(example: dict[str, Any]) -> None:
    doc = documents.canonical(copy.deepcopy(example))
    for key, value in example.items():
        assert doc[key] == value, key
    # the union of the seed tables: every document states deleted and deleted_at
    assert doc["deleted"] is False
    assert doc["deleted_at"] is None


def test_canonical_is_idempotent_and_orders_keys() -> None:
    doc = documents.canonical(copy.deepcopy(PATCH_EXAMPLE) | {"zeta": "1", "alpha": "2"})
    again = documents.canonical(orjson.loads(documents.render(doc)))
    assert documents.render(again) == documents.render(doc)
    keys = list(doc)
    assert keys[:3] == ["file", "owner", "id"]
    assert keys[-2:] == ["alpha", "zeta"]  # custom properties last, sorted


def test_links_are_derived_from_the_id() -> None:
    doc = documents.canonical({**PATCH_EXAMPLE, "self": "/elsewhere"})
    assert doc["self"] == f"/v2/images/{PATCH_EXAMPLE['id']}"
    assert doc["file"] == f"/v2/images/{PATCH_EXAMPLE['id']}/file"
    assert doc["schema"] == "/v2/schemas/image"


def test_always_present_attributes_get_their_defaults() -> None:
    doc = documents.canonical(
        {
            "id": PATCH_EXAMPLE["id"],
            "owner": "p",
            "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2020-01-01T00:00:00Z",
        }
    )
    assert doc["status"] == "queued"
    assert doc["visibility"] == "private"
    assert doc["__imagetype"] == "private"
    assert doc["__isregistered"] == "true"
    assert doc["tags"] == []
    assert doc["protected"] is False
    assert doc["size"] is None and doc["checksum"] is None and doc["name"] is None
    for attr in registry.rendered():
        if attr.presence is registry.Presence.ALWAYS:
            assert attr.name in doc
        else:
            assert attr.name not in doc


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("protected", "yes", "IMG.0001"),
        ("min_ram", "2048", "IMG.0055"),
        ("min_ram", -1, "IMG.0055"),
        ("min_disk", 2000, "IMG.0055"),
        ("visibility", "bogus", "IMG.0001"),
        ("__os_type", "BeOS", "IMG.0122"),
        ("hw_firmware_type", "coreboot", "IMG.0141"),
        ("__imagetype", "silver", "IMG.0024"),
        ("created_at", "2018-9-6T14:03:27Z", "IMG.0001"),
        ("created_at", "yesterday", "IMG.0001"),
        ("custom", 5, "IMG.0001"),
        ("custom", None, "IMG.0001"),
        ("__image_size", "12kb", "IMG.0001"),
        ("enterprise_project_id", "default", "IMG.0001"),
        ("tags", "a", "IMG.0115"),
        ("tags", ["a/b"], "IMG.0115"),
        ("name", "x" * 129, "IMG.0002"),
        ("name", " leading", "IMG.0003"),
        ("name", "bad<name>", "IMG.0003"),
        ("name", "", "IMG.0003"),
        ("name", 5, "IMG.0062"),
        ("name", ["web"], "IMG.0062"),
        ("os_shutdown_timeout", "59", "IMG.0001"),
        ("os_shutdown_timeout", "301", "IMG.0001"),
        ("__description", "x" * 1025, "IMG.0004"),
        ("__description", "line\nbreak", "IMG.0054"),
        ("__description", "<script>", "IMG.0054"),
    ],
)
def test_bad_values_are_refused_with_their_code(name: str, value: object, code: str) -> None:
    with pytest.raises(errors.ApiError) as caught:
        documents.canonical({**PATCH_EXAMPLE, name: value})
    assert caught.value.code == code
    assert caught.value.status == 400


def _values(attr: registry.Attribute) -> st.SearchStrategy[object]:
    """Values near and inside an attribute's domain: its enum, its bounds, its pattern's
    alphabet, times of the right and wrong shape, and the other JSON types."""
    near: list[object] = [
        None,
        True,
        False,
        0,
        -1,
        1,
        "",
        "\x00",
        "x" * 256,
        "2018-09-06T14:03:27Z",
    ]
    near += list(attr.enum or ())
    near += [e + "\x00" for e in attr.enum or ()]
    for bound in (attr.minimum, attr.maximum):
        if bound is not None:
            near += [bound - 1, bound, bound + 1, str(bound - 1), str(bound), str(bound + 1)]
    if attr.max_length is not None:
        near += ["a" * attr.max_length, "a" * (attr.max_length + 1)]
    return st.one_of(
        st.sampled_from(near),
        st.integers(-(2**40), 2**40),
        st.booleans(),
        st.floats(allow_nan=False),
        st.text(max_size=40),
        st.text("0123456789-:TZ ", max_size=22),
        st.lists(st.text(max_size=5), max_size=3),
    )


def _outcome(check: Callable[[object], object], value: object) -> tuple[str, object]:
    try:
        value = check(value)
    except errors.ApiError as exc:
        return "refused", (exc.code, exc.status, str(exc))
    return type(value).__name__, value


@settings(max_examples=80, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_canonical_checks_each_value_as_check_value_does(data: st.DataObject) -> None:
    """`canonical` checks values through a shortcut for the common case (`_checker`): for
    every attribute it must return or refuse exactly what `check_value` does."""
    for attr in registry.REGISTRY:
        if attr.kind is registry.Kind.LINK or attr.presence is registry.Presence.NEVER:
            continue
        value = data.draw(_values(attr), label=attr.name)
        for stored in (False, True):
            fast = documents._checker(attr, stored=stored)
            slow = functools.partial(documents.check_value, attr, stored=stored)
            assert _outcome(fast, value) == _outcome(slow, value), (attr.name, value, stored)


def test_the_shortcut_is_taken_for_the_values_a_catalog_is_made_of(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Else it would save nothing: of the seed example's values, only those with rules of
    their own (name, description, tags) and nulls go through `check_value`."""
    slow: list[str] = []
    check_value = documents.check_value

    def counted(attr: registry.Attribute, value: object, **kw: bool) -> object:
        slow.append(attr.name)
        return check_value(attr, value, **kw)

    monkeypatch.setattr(documents, "check_value", counted)
    example = documents.canonical(copy.deepcopy(QUERY_EXAMPLE))
    slow.clear()
    documents.canonical(example)
    nulls = {name for name, value in example.items() if value is None}
    assert set(slow) - nulls <= {"name", "__description", "tags"}, slow


def test_names_allow_chinese_digits_and_punctuation() -> None:
    doc = documents.canonical({**PATCH_EXAMPLE, "name": "镜像-01_v1.2 final"})
    assert doc["name"] == "镜像-01_v1.2 final"


@pytest.mark.parametrize(
    "name", ["Other Linux(64 bit)", "Debian GNU/Linux 12.0.0 64bit", " x ", "a<b>", "", "n" * 255]
)
def test_stored_names_are_what_glance_stores(name: str) -> None:
    """A catalog may hold any name of up to 255 characters (an import), where the API keeps
    IMS's rule."""
    assert documents.canonical({**PATCH_EXAMPLE, "name": name}, stored=True)["name"] == name
    with pytest.raises(errors.ApiError):
        documents.canonical({**PATCH_EXAMPLE, "name": name})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("n" * 256, "Invalid value for 'name': longer than 255 characters"),
        ("a\x00b", "Invalid value for 'name': a NUL character is not allowed"),
        (5, "The image name is incorrect: a name is a string."),
    ],
)
def test_stored_names_have_bounds_too(value: object, message: str) -> None:
    with pytest.raises(errors.ApiError) as caught:
        documents.canonical({**PATCH_EXAMPLE, "name": value}, stored=True)
    assert (caught.value.status, caught.value.message) == (400, message)


def test_reserved_custom_names_are_refused() -> None:
    with pytest.raises(errors.ApiError) as caught:
        documents.canonical({**PATCH_EXAMPLE, "os_glance_import": "x"})
    assert caught.value.status == 403


def test_tags_are_deduplicated_in_first_seen_order() -> None:
    assert documents.check_tags(["b", "a", "b", "k=v"]) == ["b", "a", "k=v"]
    with pytest.raises(errors.ApiError):
        documents.check_tags([str(i) for i in range(documents.MAX_TAGS + 1)])


def _canonical_outcome(make: Callable[[], list[dict[str, Any]]]) -> object:
    """The documents `make` returns, key order included, or the refusal it raised."""
    try:
        made = make()
    except errors.ApiError as exc:
        return "refused", exc.code, exc.status, str(exc)
    return [list(doc.items()) for doc in made]


_EXAMPLES = (PATCH_EXAMPLE, QUERY_EXAMPLE)


@st.composite
def _documents(draw: st.DrawFn) -> dict[str, Any]:
    """An example document with some keys dropped, moved or given values near their domain,
    and custom properties: what canonical fills, orders, accepts and refuses."""
    doc: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(_EXAMPLES)))
    doc["id"] = draw(st.sampled_from([doc["id"], str(uuid.UUID(int=draw(st.integers(0, 9))))]))
    names = sorted(doc)
    for name in draw(st.lists(st.sampled_from(names), max_size=3)):
        if name != "id":
            doc.pop(name, None)
    for name in draw(st.lists(st.sampled_from(names), max_size=2)):  # moved to the end
        if name in doc:
            doc[name] = doc.pop(name)
    if draw(st.integers(0, 9)) == 0:  # most documents of a catalog are good
        attr = draw(st.sampled_from(registry.REGISTRY))
        if attr.name != "id":
            doc[attr.name] = draw(_values(attr))
    customs = ["zeta", "alpha", "beta", "k", "m", "n", "p", "q", "os_glance_x"]
    for name in draw(st.lists(st.sampled_from(customs), max_size=2)):
        doc[name] = draw(st.sampled_from(["1", "2", "", "3", "4", "5", "6", "7", "8", 1]))
    return doc


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(docs=st.lists(_documents(), min_size=1, max_size=8), stored=st.booleans())
def test_canonical_many_is_canonical_of_each(docs: list[dict[str, Any]], stored: bool) -> None:
    """The import's column-by-column path makes what `canonical` makes of each document, in
    the same key order, or refuses what `canonical` refuses of the first bad one."""
    each = _canonical_outcome(lambda: [documents.canonical(d, stored=stored) for d in docs])
    together = _canonical_outcome(lambda: documents.canonical_many(docs, stored=stored))
    assert together == each


def test_canonical_many_tells_values_apart_by_type() -> None:
    """`True == 1`: a count of 1 in one document does not let a count of `True` through in
    the next, though a set of the values holds one of them."""
    docs = [{**PATCH_EXAMPLE, "min_ram": 1}, {**PATCH_EXAMPLE, "min_ram": True}]
    with pytest.raises(errors.ApiError) as caught:
        documents.canonical_many(docs)
    assert "min_ram" in str(caught.value)


@pytest.mark.parametrize("tags", [[["a"]], [{"a": 1}], ["a", 1], "a", None])
def test_canonical_many_refuses_the_tags_canonical_refuses(tags: object) -> None:
    docs = [{**PATCH_EXAMPLE, "tags": ["a"]}, {**PATCH_EXAMPLE, "tags": tags}]
    each = _canonical_outcome(lambda: [documents.canonical(d) for d in docs])
    assert isinstance(each, tuple) and each[0] == "refused"
    assert _canonical_outcome(lambda: documents.canonical_many(docs)) == each


def test_canonical_many_gives_each_document_lists_of_its_own() -> None:
    docs = [{**PATCH_EXAMPLE, "tags": ["a", "b", "a"]}, {**PATCH_EXAMPLE, "tags": ["a", "b"]}]
    made = documents.canonical_many(docs)
    assert [d["tags"] for d in made] == [["a", "b"], ["a", "b"]]
    made[0]["tags"].append("c")
    assert made[1]["tags"] == ["a", "b"]
    assert docs[1]["tags"] == ["a", "b"]  # the input is left as it was


def test_new_image_defaults_and_rules() -> None:
    doc = documents.new_image(
        {"name": "web"},
        image_id=PATCH_EXAMPLE["id"],
        owner="p1",
        now=times.parse("2020-01-02T03:04:05Z"),
        is_admin=False,
    )
    assert doc["owner"] == "p1"
    assert doc["status"] == "queued"
    assert doc["created_at"] == doc["updated_at"] == "2020-01-02T03:04:05Z"
    assert doc["__imagetype"] == "private"
    for forbidden in ({"visibility": "public"}, {"__imagetype": "gold"}, {"owner": "p2"}):
        with pytest.raises(errors.ApiError) as caught:
            documents.new_image(
                forbidden, image_id=PATCH_EXAMPLE["id"], owner="p1", now=0, is_admin=False
            )
        assert caught.value.status == 403
    with pytest.raises(errors.ApiError) as caught:
        documents.new_image(
            {"status": "active"}, image_id=PATCH_EXAMPLE["id"], owner="p1", now=0, is_admin=False
        )
    assert caught.value.message == "Attribute 'status' is read-only."
    public = documents.new_image(
        {"visibility": "public", "owner": "p9"},
        image_id=PATCH_EXAMPLE["id"],
        owner="p1",
        now=0,
        is_admin=True,
    )
    assert (public["__imagetype"], public["owner"]) == ("gold", "p9")


def test_times_round_trip_and_strictness() -> None:
    assert times.render(times.parse("2018-09-06T14:03:27Z")) == "2018-09-06T14:03:27Z"
    assert times.parse("2018-10-28 10:00:00", times.QUERY_FORMATS) == times.parse(
        "2018-10-28T10:00:00Z"
    )
    for bad in (
        "2018-10-28",
        "2018-10-28T10:00:00",
        "2018-13-01T00:00:00Z",
        "２０１８-10-28T10:00:00Z",
    ):
        with pytest.raises(ValueError, match="UTC time"):
            times.parse(bad, times.QUERY_FORMATS)


def _near(low: int, high: int) -> st.SearchStrategy[int]:
    """Mostly valid field values, and often those just outside or at the edges."""
    return st.one_of(st.integers(low, high), st.sampled_from([low - 1, low, high, high + 1]))


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    day=st.tuples(_near(1, 9999), _near(1, 12), _near(1, 31)),
    clock=st.tuples(_near(0, 23), _near(0, 59), _near(0, 59)),
    query=st.booleans(),
)
def test_times_are_read_as_strptime_reads_them(
    day: tuple[int, int, int], clock: tuple[int, int, int], query: bool
) -> None:
    """`times.parse` reads the day and the clock's fields itself; for every time of the right
    shape it takes and refuses what strptime does."""
    (year, month, mday), (hour, minute, second) = day, clock
    sep, end = (" ", "") if query else ("T", "Z")
    text = f"{year:04d}-{month:02d}-{mday:02d}{sep}{hour:02d}:{minute:02d}:{second:02d}{end}"
    fmt = times.QUERY_FORMATS[1] if query else times.RENDER_FORMAT
    try:
        expected: int | None = int(datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp())
    except ValueError:
        expected = None
    try:
        found: int | None = times.parse(text, times.QUERY_FORMATS)
    except ValueError:
        found = None
    assert found == expected, text
