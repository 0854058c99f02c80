"""The rules of exporting and copying images and of the batch member calls
(`domain/exports.py`, `domain/copies.py`, `domain/member_batches.py`), without I/O: the limits
no test could reach with real bytes, and the documents a copy makes."""

from __future__ import annotations

from typing import Any

import pytest

from openims.domain import copies, exports, member_batches
from openims.domain.access import Caller, ImageAccess
from openims.errors import ApiError

OWNER = Caller("p1")
MINE = ImageAccess(owner="p1", visibility="private", registered=True, member_status=None)
GIB = 1 << 30


def doc(**fields: Any) -> dict[str, Any]:
    return {
        "id": "6b8b2f7e-6f7a-4a1e-9a55-2b0c8d3f1e11",
        "status": "active",
        "disk_format": "qcow2",
        "size": 1 << 20,
        "stores": "fs",
        "visibility": "private",
        "__imagetype": "private",
        **fields,
    }


def code_of(call: Any, *args: Any) -> str:
    with pytest.raises(ApiError) as refused:
        call(*args)
    return refused.value.code


@pytest.mark.parametrize(
    ("size", "quick", "code"),
    [
        (128 * GIB, False, None),
        (128 * GIB + 1, False, "IMG.0160"),
        (128 * GIB + 1, True, None),
        ((1 << 40) - 1, True, None),
        (1 << 40, True, "IMG.0059"),
    ],
)
def test_export_size_limits(size: int, quick: bool, code: str | None) -> None:
    request = exports.parse(
        {"bucket_url": "bkt:f", **({"is_quick_export": True} if quick else {"file_format": "vhd"})}
    )
    if code is None:
        exports.admit(OWNER, MINE, doc(size=size), request)
    else:
        assert code_of(exports.admit, OWNER, MINE, doc(size=size), request) == code


def test_export_of_what_is_not_exportable() -> None:
    request = exports.parse({"bucket_url": "bkt:f", "file_format": "qcow2"})
    assert code_of(exports.admit, OWNER, MINE, doc(__whole_image=True), request) == "IMG.0128"
    assert code_of(exports.admit, OWNER, MINE, doc(stores=None), request) == "IMG.0046"
    assert code_of(exports.admit, OWNER, MINE, doc(status="deactivated"), request) == "IMG.0046"
    reader = Caller("p1", frozenset({"reader"}))
    assert code_of(exports.admit, reader, MINE, doc(), request) == "IMG.0047"
    admin = Caller("ops", frozenset({"admin"}))
    exports.admit(admin, MINE, doc(visibility="public", __imagetype="gold"), request)


def test_source_formats_are_never_guessed() -> None:
    assert exports.source_format(doc(disk_format="vhd")) == "vpc"
    for stored_as_raw in ("raw", "zvhd2", "zvhd", "ami", "ploop"):
        assert exports.source_format(doc(disk_format=stored_as_raw)) == "raw"
    assert exports.output_bound(16 * GIB) == 17 * GIB + (64 << 20)


def test_a_copy_is_a_private_image_of_the_caller_with_the_source_as_its_parent() -> None:
    source = doc(
        name="src",
        owner="p0",
        visibility="shared",
        __imagetype="shared",
        protected=True,
        tags=["a"],
        __os_version="Ubuntu 22.04 server 64bit",
        min_disk=40,
        checksum="0" * 32,
        __system__cmkid="key",
        enterprise_project_id="0",
        created_at="2020-01-01T00:00:00Z",
        updated_at="2020-01-01T00:00:00Z",
    )
    request = copies.parse_in_region({"name": "copy", "description": "d"})
    new_id = "0f4e7a1c-5d2b-4c3a-8e9f-1a2b3c4d5e6f"
    new = copies.copied_document(source, request, image_id=new_id, owner="p1", now=1_700_000_000)
    assert (new["id"], new["name"], new["__description"]) == (new_id, "copy", "d")
    assert new["owner"] == "p1"
    assert (new["visibility"], new["__imagetype"], new["protected"]) == (
        "private",
        "private",
        False,
    )
    assert new["tags"] == [] and new["__originalimagename"] == source["id"]
    assert (new["__os_version"], new["min_disk"]) == ("Ubuntu 22.04 server 64bit", 40)
    for not_copied in ("checksum", "size", "stores", "__system__cmkid", "enterprise_project_id"):
        assert new.get(not_copied) is None, not_copied
    assert new["status"] == "saving" and new["created_at"] != source["created_at"]


def test_batch_bodies() -> None:
    batch = member_batches.parse_add({"images": ["a", "b", "a"], "projects": ["p", "p"]})
    assert (batch.images, batch.projects) == (("a", "b"), ("p",))
    update = member_batches.parse_update(
        {"images": ["a"], "project_id": "p", "status": "rejected", "vault_id": "v"}
    )
    assert (update.projects, update.status) == (("p",), "rejected")
    assert member_batches.Batch.of(update.params()) == update
    assert code_of(member_batches.parse_add, {"images": ["a"], "projects": ["x/y"]}) == "IMG.0001"
