"""The one tag model (`domain.tags`): IMS `{key, value}` tags are Glance tag strings."""

from __future__ import annotations

import pytest

from openims import errors
from openims.domain import tags
from openims.domain.tags import Tag


@pytest.mark.parametrize(
    ("stored", "tag"),
    [("env=prod", Tag("env", "prod")), ("solo", Tag("solo", "")), ("a=b=c", Tag("a", "b=c"))],
)
def test_a_stored_tag_reads_as_a_key_and_a_value(stored: str, tag: Tag) -> None:
    assert tags.parse(stored) == tag


def test_an_ims_tag_writes_the_form_ims_stores() -> None:
    assert Tag("env", "prod").glance == "env=prod"
    assert Tag("solo", "").glance == "solo"
    for tag in (Tag("env", "prod"), Tag("solo", ""), Tag("v", "1.2")):
        assert tags.parse(tag.glance) == tag


def test_setting_a_key_replaces_its_tag_in_place() -> None:
    current = ["solo", "env=prod", "env=dup", "x"]
    assert tags.with_tags(current, [Tag("env", "dev"), Tag("new", "")]) == [
        "solo",
        "env=dev",
        "x",
        "new",
    ]
    assert tags.with_tags(["env=prod"], [Tag("env", "prod")]) == ["env=prod"]


def test_at_most_ten_tags() -> None:
    ten = [f"k{n}" for n in range(10)]
    with pytest.raises(errors.ApiError) as refused:
        tags.with_tags(ten, [Tag("one", "more")])
    assert refused.value.code == "IMG.0116"
    assert tags.with_tags(ten, [Tag("k0", "v")])[0] == "k0=v"  # a replacement still fits


def test_v1_tags_use_a_dot() -> None:
    assert tags.v1_tag("aaaa.1111") == Tag("aaaa", "1111")
    assert tags.v1_tag("v.1.2") == Tag("v", "1.2")
    assert tags.v1_tag("bare") == Tag("bare", "")
