"""`parse_range` against the Glance download table (spec section 2) and, for any header, against
a model of what Glance does with it: webob's `Range.parse`, then Glance's checks and offsets."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openims import errors
from openims.domain.ranges import parse_range

INVALID = "The Range requested is not available. Invalid Range header."


def start_message(size: int) -> str:
    return (
        "The Range requested is not available. Invalid start position in Range header. "
        f"Start position MUST be in the inclusive range [0, {size - 1}]."
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", (0, 10)),
        ("bytes=10-", (10, 1024)),
        ("bytes=-5", (1019, 1024)),
        ("bytes=1000-2000", (1000, 1024)),
        ("bytes=0-1023", (0, 1024)),
        ("bytes=1023-1023", (1023, 1024)),
        ("bytes=-1024", (0, 1024)),
        ("bytes=-5000", (0, 1024)),
        ("bytes=-0", (0, 1024)),
        ("BYTES = 3 - 4", (3, 5)),
        ("bytes=0-9trailing", (0, 10)),  # webob matches a prefix
    ],
)
def test_ranges_glance_serves(header: str, expected: tuple[int, int]) -> None:
    assert parse_range(header, 1024) == expected


def test_no_header_is_the_whole_image() -> None:
    assert parse_range(None, 1024) is None
    assert parse_range(None, 0) is None


@pytest.mark.parametrize(
    "header", ["bytes=5-2", "bytes=5-4", "bytes=abc", "items=0-5", "", "bytes=-", " bytes=0-1"]
)
def test_invalid_headers_are_416_not_ignored(header: str) -> None:
    with pytest.raises(errors.ApiError) as raised:
        parse_range(header, 1024)
    assert raised.value.spec is errors.RANGE_INVALID
    assert raised.value.status == 416
    assert raised.value.message == INVALID


@pytest.mark.parametrize(
    ("header", "size"),
    [("bytes=999999999-", 1024), ("bytes=1024-", 1024), ("bytes=0-9", 0), ("bytes=-5", 0)],
)
def test_a_start_past_the_end_is_416_naming_the_valid_starts(header: str, size: int) -> None:
    with pytest.raises(errors.ApiError) as raised:
        parse_range(header, size)
    assert raised.value.spec is errors.RANGE_START_INVALID
    assert raised.value.status == 416
    assert raised.value.message == start_message(size)


@pytest.mark.parametrize("header", ["bytes=0-1,3-4", "bytes=0-1,", "items=,"])
def test_multiple_ranges_are_400(header: str) -> None:
    with pytest.raises(errors.ApiError) as raised:
        parse_range(header, 1024)
    assert raised.value.status == 400
    assert raised.value.message == (
        "Requests with multiple ranges are not supported in Glance. "
        "You may make multiple single-range requests instead."
    )


# --- the model: Glance 33 with webob 1.8, transcribed ----------------------------------------
_WEBOB = re.compile(r"bytes *= *(\d*) *- *(\d*)", flags=re.I)


def glance(header: str, size: int) -> tuple[int, int] | str:
    """(offset, end) Glance serves, or the catalogue key of its refusal."""
    if "," in header:
        return "range_multiple"
    m = _WEBOB.match(header)
    if not m:
        return "range_invalid"
    first, last = m.groups()
    if not first:
        if not last:
            return "range_invalid"  # int("") raises in webob: a 500 in Glance
        start, end = -int(last), None
    else:
        start, end = int(first), (int(last) + 1 if last else None)
        if end is not None and start >= end:
            return "range_invalid"
    if start >= size:
        return "range_start_invalid"
    if size == 0:
        return "range_start_invalid"  # Glance: 206 "bytes 0--1/0"; see ranges.py
    offset = start if start >= 0 else (size + start if abs(start) < size else 0)
    return (offset, end if end is not None and end < size else size)


headers = st.one_of(
    st.builds(
        "{}={}{}-{}{}".format,
        st.sampled_from(["bytes", "BYTES", "bytes ", "items", "byte"]),
        st.sampled_from(["", " "]),
        st.one_of(st.just(""), st.integers(0, 3000).map(str)),
        st.one_of(st.just(""), st.integers(0, 3000).map(str)),
        st.sampled_from(["", ",", ",0-1", "x", " "]),
    ),
    st.text(alphabet="bytes=-0123456789, ", max_size=16),
)


@given(header=headers, size=st.integers(0, 2048))
def test_any_header_is_answered_as_glance_answers_it(header: str, size: int) -> None:
    expected = glance(header, size)
    got: tuple[int, int] | str | None
    try:
        got = parse_range(header, size)
    except errors.ApiError as exc:
        got = exc.spec.key
    assert got == expected
    if isinstance(got, tuple):
        assert 0 <= got[0] < got[1] <= size
