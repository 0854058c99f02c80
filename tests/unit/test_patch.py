"""`domain.patch` without I/O: parsing both dialects and applying them by the registry's rules.

Every refusal over HTTP is in `tests/api/test_patch_errors.py`; this module checks what the
HTTP table cannot show cheaply: exact results of applied patches, that a refused patch leaves
its input alone, and (with hypothesis) that patches of custom properties behave like a plain
dictionary model, all or nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openims import errors
from openims.domain import documents, patch, times
from openims.domain.access import Caller
from openims.domain.documents import Document

OWNER = Caller("p1")
ADMIN = Caller("ops", frozenset({"admin"}))
CREATED = times.parse("2026-01-01T00:00:00Z")
LATER = CREATED + 3600


def image(**fields: Any) -> Document:
    return documents.new_image(
        {"name": "img", **fields},
        image_id="11111111-2222-3333-4444-555555555555",
        owner="p1",
        now=CREATED,
        is_admin=False,
    )


def parse(media: str, body: Any, *, max_operations: int = 100) -> patch.Patch:
    dialect = patch.GLANCE.dialect(media)
    return patch.parse(patch.GLANCE, dialect, body, max_operations=max_operations)


def ops(*raw: dict[str, Any], media: str = patch.V21) -> patch.Patch:
    return parse(media, list(raw))


def applied(doc: Document, *raw: dict[str, Any], media: str = patch.V21, **kw: Any) -> Document:
    caller = kw.pop("caller", OWNER)
    out = patch.apply(doc, ops(*raw, media=media), caller, now=kw.pop("now", LATER))
    assert out is not None
    return out


# --- parsing -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pointer", "name"),
    [("/name", "name"), ("/a~1b", "a/b"), ("/a~0b", "a~b"), ("/~01", "~1"), ("/~10", "/0")],
)
def test_json_pointer_escapes(pointer: str, name: str) -> None:
    assert patch.decode_pointer(pointer) == name


def test_both_dialects_parse_to_the_same_operations() -> None:
    v21 = ops(
        {"op": "replace", "path": "/name", "value": "x"},
        {"op": "add", "path": "/a", "value": "1"},
        {"op": "remove", "path": "/b"},
    )
    v20 = ops(
        {"replace": "/name", "value": "x"},
        {"add": "/a", "value": "1"},
        {"remove": "/b"},
        media=patch.V20,
    )
    assert v21.operations == v20.operations
    assert v21.operations[2] == patch.Operation("remove", "b")


@pytest.mark.parametrize(
    ("content_type", "media"),
    [
        (patch.V21, patch.V21),
        (patch.V20, patch.V20),
        ("Application/OpenStack-Images-v2.1-JSON-Patch; charset=UTF-8", patch.V21),
    ],
)
def test_media_types_ignore_case_and_parameters(content_type: str, media: str) -> None:
    assert patch.GLANCE.dialect(content_type).media_type == media


def test_the_operation_limit_counts_operations() -> None:
    body = [{"op": "add", "path": f"/p{i}", "value": "v"} for i in range(3)]
    assert len(parse(patch.V21, body, max_operations=3).operations) == 3
    with pytest.raises(errors.ApiError) as caught:
        parse(patch.V21, body, max_operations=2)
    assert caught.value.status == 413
    assert caught.value.message == "A patch may hold at most 2 operations; this one holds 3."


# --- applying ------------------------------------------------------------------------------
def test_replace_add_and_remove_custom_properties() -> None:
    doc = image(team="blue", old="x")
    out = applied(
        doc,
        {"op": "replace", "path": "/team", "value": "red"},
        {"op": "add", "path": "/new", "value": "1"},
        {"op": "remove", "path": "/old"},
    )
    assert out["team"] == "red" and out["new"] == "1" and "old" not in out
    assert list(out)[-2:] == ["new", "team"]  # custom properties last, sorted
    assert out == documents.canonical(out)


def test_add_of_an_existing_property_replaces_in_v21_and_conflicts_in_v20() -> None:
    doc = image(team="blue")
    assert applied(doc, {"op": "add", "path": "/team", "value": "red"})["team"] == "red"
    with pytest.raises(errors.ApiError) as caught:
        applied(doc, {"add": "/team", "value": "red"}, media=patch.V20)
    assert (caught.value.status, caught.value.message) == (409, "Property team already present.")
    # v2.0: the attributes every image has are always present, so `add` of them is 409 too
    # (Glance's `_do_add` checks `hasattr(image, name)`); v2.1 replaces them
    for name, value in (("name", "n2"), ("tags", ["x"]), ("min_ram", 1), ("protected", True)):
        with pytest.raises(errors.ApiError) as caught:
            applied(doc, {"add": f"/{name}", "value": value}, media=patch.V20)
        assert caught.value.message == f"Property {name} already present."
        assert applied(doc, {"op": "add", "path": f"/{name}", "value": value})[name] == value
    assert applied(doc, {"replace": "/name", "value": "n2"}, media=patch.V20)["name"] == "n2"


def test_move_is_a_remove_and_an_add() -> None:
    doc = image(team="blue", squad="old")
    out = applied(doc, {"op": "move", "from": "/team", "path": "/squad"})
    assert "team" not in out and out["squad"] == "blue"
    same = applied(doc, {"op": "move", "from": "/team", "path": "/crew"})
    assert same["crew"] == "blue"
    with pytest.raises(errors.ApiError) as caught:
        applied(doc, {"op": "move", "from": "/name", "path": "/title"})
    assert caught.value.message == "Property name may not be removed."


def test_a_refused_patch_changes_nothing_and_leaves_its_input_alone() -> None:
    doc = image(team="blue")
    before = copy.deepcopy(doc)
    with pytest.raises(errors.ApiError) as caught:
        patch.apply(
            doc,
            ops(
                {"op": "replace", "path": "/name", "value": "renamed"},
                {"op": "replace", "path": "/__nope", "value": "x"},
            ),
            OWNER,
            now=LATER,
        )
    assert caught.value.status == 409
    assert doc == before


def test_an_idle_patch_writes_nothing() -> None:
    doc = image(team="blue")
    assert patch.apply(doc, ops(), OWNER, now=LATER) is None
    assert (
        patch.apply(doc, ops({"op": "replace", "path": "/team", "value": "blue"}), OWNER, now=LATER)
        is None
    )


def test_updated_at_moves_forward_and_never_back() -> None:
    doc = image(team="blue")
    out = applied(doc, {"op": "replace", "path": "/team", "value": "red"}, now=LATER)
    assert out["updated_at"] == times.render(LATER)
    assert out["created_at"] == doc["created_at"]
    # a clock behind the stored time (a step back, or an image imported from the future)
    future = dict(doc, updated_at="2030-01-01T00:00:00Z")
    out = applied(future, {"op": "replace", "path": "/team", "value": "red"}, now=LATER)
    assert out["updated_at"] == "2030-01-01T00:00:00Z"


def test_integers_may_come_as_strings_and_max_ram_as_an_integer() -> None:
    """The IMS SDK types every value as a string; `max_ram` is a string attribute."""
    out = applied(
        image(),
        {"op": "replace", "path": "/min_ram", "value": "2048"},
        {"op": "add", "path": "/max_ram", "value": 4096},
    )
    assert out["min_ram"] == 2048 and out["max_ram"] == "4096"
    with pytest.raises(errors.ApiError) as caught:
        applied(image(), {"op": "replace", "path": "/min_ram", "value": "2k"})
    assert caught.value.code == "IMG.0055"


def test_tags_are_replaced_whole_and_deduplicated_in_first_seen_order() -> None:
    doc = image(tags=["x"])
    out = applied(doc, {"op": "replace", "path": "/tags", "value": ["b", "a", "b", "k=v"]})
    assert out["tags"] == ["b", "a", "k=v"]
    assert applied(doc, {"op": "add", "path": "/tags", "value": []})["tags"] == []


def test_visibility_rules_and_the_ims_image_type() -> None:
    doc = image()
    shared = applied(doc, {"op": "replace", "path": "/visibility", "value": "shared"})
    assert (shared["visibility"], shared["__imagetype"]) == ("shared", "shared")
    back = applied(shared, {"op": "replace", "path": "/visibility", "value": "private"})
    assert back["__imagetype"] == "private"
    with pytest.raises(errors.ApiError) as caught:
        applied(doc, {"op": "replace", "path": "/visibility", "value": "public"})
    assert caught.value.message == "You are not authorized to complete publicize_image action."
    public = applied(doc, {"op": "replace", "path": "/visibility", "value": "public"}, caller=ADMIN)
    assert (public["visibility"], public["__imagetype"]) == ("public", "gold")


def test_only_admins_change_the_owner() -> None:
    doc = image()
    with pytest.raises(errors.ApiError) as caught:
        applied(doc, {"op": "replace", "path": "/owner", "value": "p2"})
    assert caught.value.message == "Owner can't be updated by non admin."
    assert (
        applied(doc, {"op": "replace", "path": "/owner", "value": "p2"}, caller=ADMIN)["owner"]
        == "p2"
    )


def test_description_is_added_replaced_and_removed() -> None:
    doc = applied(image(), {"op": "add", "path": "/__description", "value": "first"})
    assert doc["__description"] == "first"
    doc = applied(doc, {"op": "replace", "path": "/__description", "value": "二 second"})
    assert doc["__description"] == "二 second"
    assert "__description" not in applied(doc, {"op": "remove", "path": "/__description"})


# --- a reference model ---------------------------------------------------------------------
NAMES = st.sampled_from(["a", "b", "c", "a/b", "~x"])
VALUES = st.text(st.characters(exclude_characters="\x00"), max_size=3)  # NUL: refused
OPERATION = st.one_of(
    st.fixed_dictionaries(
        {"op": st.sampled_from(["add", "replace"]), "path": NAMES, "value": VALUES}
    ),
    st.fixed_dictionaries({"op": st.just("remove"), "path": NAMES}),
    st.fixed_dictionaries({"op": st.just("move"), "from": NAMES, "path": NAMES}),
)


def _escape(name: str) -> str:
    return "/" + name.replace("~", "~0").replace("/", "~1")


def _model(props: dict[str, str], raw: list[dict[str, Any]]) -> dict[str, str] | None:
    """The expected custom properties after `raw`, or None if the patch must be refused."""
    out = dict(props)
    for op in raw:
        name = op["path"]
        if op["op"] == "move":
            if op["from"] not in out:
                return None
            out[name] = out.pop(op["from"])
        elif op["op"] == "remove":
            if name not in out:
                return None
            del out[name]
        elif op["op"] == "replace" and name not in out:
            return None
        else:
            out[name] = op["value"]
    return out


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    start=st.dictionaries(NAMES, VALUES, max_size=3),
    raw=st.lists(OPERATION, max_size=5),
)
def test_custom_property_patches_follow_the_dictionary_model(
    start: dict[str, str], raw: list[dict[str, Any]]
) -> None:
    doc = image(**start)
    wire = [
        {
            **op,
            "path": _escape(op["path"]),
            **({"from": _escape(op["from"])} if "from" in op else {}),
        }
        for op in raw
    ]
    expected = _model(start, raw)
    parsed = parse(patch.V21, wire, max_operations=10)
    if expected is None:
        with pytest.raises(errors.ApiError) as caught:
            patch.apply(doc, parsed, OWNER, now=LATER)
        assert caught.value.status == 409
        return
    out = patch.apply(doc, parsed, OWNER, now=LATER)
    result = doc if out is None else out
    assert documents.custom_properties(result) == expected


# --- the IMS policy (PATCH /v2/cloudimages/{id}) ---------------------------------------------
def ims_ops(*raw: dict[str, Any]) -> patch.Patch:
    dialect = patch.IMS.dialect("application/json;charset=UTF-8")  # as the SDK sends it
    return patch.parse(patch.IMS, dialect, list(raw), max_operations=100)


def ims_applied(doc: Document, *raw: dict[str, Any], caller: Caller = OWNER) -> Document | None:
    return patch.apply(doc, ims_ops(*raw), caller, now=LATER)


def test_ims_takes_json_only_and_no_move() -> None:
    for content_type in (patch.V21, patch.V20, None, "text/plain"):
        with pytest.raises(errors.ApiError) as caught:
            patch.IMS.dialect(content_type)
        assert caught.value.status == 415
    with pytest.raises(errors.ApiError) as caught:
        ims_ops({"op": "move", "from": "/a", "path": "/b"})
    assert caught.value.message.endswith("It must be one of the following: add, remove, replace.")
    with pytest.raises(errors.ApiError):
        patch.GLANCE.dialect("application/json")


def test_ims_changes_only_listed_attributes_and_lower_case_extensions() -> None:
    doc = image(Team="kept", team="blue")
    out = ims_applied(
        doc,
        {"op": "replace", "path": "/name", "value": "n"},
        {"op": "add", "path": "/team", "value": "red"},  # add of a present one replaces
        {"op": "add", "path": "/__support_kvm", "value": "true"},
        {"op": "remove", "path": "/Team"},  # an existing name: no name rule
    )
    assert out is not None and out["team"] == "red" and "Team" not in out
    for op, code in (
        ({"op": "replace", "path": "/protected", "value": True}, "IMG.0105"),
        ({"op": "add", "path": "/os_shutdown_timeout", "value": "60"}, "IMG.0105"),
        ({"op": "add", "path": "/New", "value": "x"}, "IMG.0001"),
        ({"op": "replace", "path": "/__support_xen", "value": "true"}, "IMG.0035"),
    ):
        with pytest.raises(errors.ApiError) as caught:
            ims_applied(doc, op)
        assert caught.value.code == code and caught.value.spec.status_on(ims=True) == 400


def test_ims_admits_the_owner_of_an_active_image_only() -> None:
    from openims.domain.access import ImageAccess

    active = dict(image(), status="active")
    mine = ImageAccess("p1", "private", registered=True, member_status=None)
    shared = ImageAccess("p2", "shared", registered=True, member_status="accepted")
    hidden = ImageAccess("p2", "private", registered=True, member_status=None)
    patch.admit(patch.IMS, OWNER, mine, active)
    patch.admit(patch.IMS, ADMIN, hidden, active)
    for caller, seen, doc, code in (
        (OWNER, hidden, active, "IMG.0027"),  # invisible: as if missing
        (OWNER, shared, active, "IMG.0047"),  # visible, not the owner's
        (Caller("p1", frozenset({"reader"})), mine, active, "IMG.0026"),
        (OWNER, mine, image(), "IMG.0046"),  # queued
        (OWNER, hidden, image(), "IMG.0027"),  # visibility is judged before the status
    ):
        with pytest.raises(errors.ApiError) as caught:
            patch.admit(patch.IMS, caller, seen, doc)
        assert caught.value.code == code
    with pytest.raises(errors.ApiError) as caught:  # the Glance face: Glance's 403
        patch.admit(patch.GLANCE, OWNER, shared, active)
    assert caught.value.code == "IMG.0026"
    patch.admit(patch.GLANCE, OWNER, mine, image())  # any status


def test_conflicts_answer_400_on_the_ims_face_and_409_on_the_glance_one() -> None:
    spec = errors.PROPERTY_MISSING
    assert (spec.status_on(ims=False), spec.status_on(ims=True)) == (409, 400)
    assert errors.OWNER_ONLY.status_on(ims=True) == 403
    assert errors.IMAGE_NOT_FOUND.status_on(ims=True) == 404
