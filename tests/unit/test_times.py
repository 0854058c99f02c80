"""Times in Glance list filters: `times.parse_iso8601` must accept exactly the texts Glance's
parser (pyiso8601, through oslo's `timeutils.parse_isotime`) accepts and read the same instant
from them, and the filter must compare that instant with whole-second stored times exactly."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from fractions import Fraction

import iso8601
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openims import errors
from openims.domain import query, times

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def glance(text: str) -> tuple[int, int] | None:
    """What Glance reads: (epoch seconds rounded down, microseconds), or None if refused."""
    try:
        parsed = iso8601.parse_date(text)
    except iso8601.ParseError:
        return None
    delta = parsed - EPOCH
    return delta.days * 86400 + delta.seconds, delta.microseconds


def ours(text: str) -> tuple[int, int] | None:
    try:
        at = times.parse_iso8601(text)
    except ValueError:
        return None
    return at.seconds, at.micros


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-09-17T00:13:43Z", "2018-09-17T00:13:43Z"),
        ("2018-09-17T00:13:43", "2018-09-17T00:13:43Z"),  # no zone: UTC
        ("2018-09-17 00:13:43", "2018-09-17T00:13:43Z"),  # the IMS spelling
        ("2018-09-17T00:13:43+00:00", "2018-09-17T00:13:43Z"),
        ("2018-09-17T08:13:43+0800", "2018-09-17T00:13:43Z"),
        ("2018-09-16T19:13:43-05:00", "2018-09-17T00:13:43Z"),
        ("2018-09-17T08:13:43+08", "2018-09-17T00:13:43Z"),
        ("2018-01-01", "2018-01-01T00:00:00Z"),
        ("2018-09-17T00:13Z", "2018-09-17T00:13:00Z"),
        ("20180917T001343Z", "2018-09-17T00:13:43Z"),  # the basic format
    ],
)
def test_the_iso_forms_glance_accepts(text: str, expected: str) -> None:
    assert times.parse_iso8601(text) == times.Instant(times.parse(expected))
    assert ours(text) == glance(text)


def test_fractions_offsets_and_the_ends_of_the_calendar() -> None:
    base = times.parse("2018-09-17T00:13:43Z")
    assert times.parse_iso8601("2018-09-17T00:13:43.5Z") == times.Instant(base, 500_000)
    assert times.parse_iso8601("2018-09-17T00:13:43,25Z") == times.Instant(base, 250_000)
    # pyiso8601 keeps microseconds and drops the rest
    assert times.parse_iso8601("2018-09-17T00:13:43.0000009Z") == times.Instant(base)
    # a fraction on a zone east of UTC: the seconds before the epoch round down
    assert times.parse_iso8601("1970-01-01T00:00:00.5+00:01") == times.Instant(-60, 500_000)
    # an offset may carry the instant past year 1 or 9999: exact, no overflow
    assert times.parse_iso8601("0001-01-01T00:00:00+05:00").seconds == -62135614800
    assert times.parse_iso8601("9999-12-31T23:59:59-05:00").seconds == 253402318799
    for text in (
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59-05:00",
        "2018-09-17T00:13:43.99999999999999999999999999999999Z",  # rounds to 1 s: refused
        "2018-09-17T00:13:43+05:75",  # 75 minutes: Glance takes it as +06:15
    ):
        assert ours(text) == glance(text), text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not-a-date",
        "201809",  # YYYYMM is not allowed
        "2018-13-01",
        "2018-02-30",
        "2018-09-17T24:00:00Z",
        "2018-09-17T00:13:60Z",
        "2018-09-17T00:13:43+24:00",
        "2018-09-17T00:13:43 Z",
        "18-09-17",
        "２０１８-09-17",  # fullwidth digits
        "2018-09-17T00:13:43Zjunk",
    ],
)
def test_texts_glance_refuses(text: str) -> None:
    assert glance(text) is None
    with pytest.raises(ValueError, match=r"time|UTC offset"):
        times.parse_iso8601(text)


_DIGITS = "0123456789"


def _number(low: int, high: int, width: int) -> st.SearchStrategy[str]:
    """Mostly a value in range at the usual width, sometimes any run of digits."""
    in_range = st.integers(low, high).map(lambda n: f"{n:0{width}d}")
    return st.one_of(in_range, in_range, in_range, st.text(_DIGITS, max_size=width + 1))


@st.composite
def iso_like(draw: st.DrawFn) -> str:
    """Texts near the ISO 8601 grammar: every part optional, separators present or not,
    values in range or not, and a tail that may spoil it."""
    text = draw(_number(1, 9999, 4))
    for sep, part in (("-", _number(1, 12, 2)), ("-", _number(1, 31, 2))):
        if not draw(st.booleans()):
            break
        text += draw(st.sampled_from((sep, ""))) + draw(part)
    else:
        if draw(st.booleans()):
            text += draw(st.sampled_from("T T")) + draw(_number(0, 24, 2))
            for part in (_number(0, 60, 2), _number(0, 61, 2)):
                if draw(st.booleans()):
                    text += draw(st.sampled_from((":", ""))) + draw(part)
            if draw(st.booleans()):
                text += draw(st.sampled_from(".,")) + draw(st.text(_DIGITS, max_size=35))
            zone = draw(st.sampled_from(("", "Z", "+", "-")))
            if zone in "+-" and zone:
                zone += draw(_number(0, 25, 2)) + draw(st.sampled_from((":", "")))
                zone += draw(st.one_of(st.just(""), _number(0, 99, 2)))
            text += zone
    tail: str = draw(st.sampled_from(("",) * 8 + ("\n", "\n\n", " ", "Z", ":", "x")))
    return text + tail


@settings(max_examples=1000, deadline=None, derandomize=True, database=None)
@given(text=st.one_of(iso_like(), st.text("0123456789-:T Z+.,\nt", max_size=30)))
def test_the_parser_agrees_with_glances(text: str) -> None:
    assert ours(text) == glance(text), repr(text)


def _holds(clauses: list[query.Clause], stored: int) -> bool:
    compare = {
        "gt": lambda v: stored > v,
        "gte": lambda v: stored >= v,
        "lt": lambda v: stored < v,
        "lte": lambda v: stored <= v,
        "eq": lambda v: stored == v,
        "neq": lambda v: stored != v,
    }
    return all(compare[c.op](c.value) for c in clauses)


@pytest.mark.parametrize("op", query.TIME_OPS)
@pytest.mark.parametrize(
    "text",
    [
        "1970-01-01T00:00:10Z",
        "1970-01-01T00:00:10.5Z",
        "1970-01-01T00:00:10.000001Z",
        "1970-01-01T00:00:10.999999Z",
        "1969-12-31T23:59:50.25Z",  # before the epoch: floor, not truncation towards zero
        "1970-01-01T08:00:10.5+08:00",
    ],
)
def test_fractional_times_compare_exactly_with_whole_seconds(op: str, text: str) -> None:
    at = times.parse_iso8601(text)
    exact = Fraction(at.seconds) + Fraction(at.micros, 1_000_000)
    clauses = query.glance_time_clauses("created_at", f"{op}:{text}")
    assert all(isinstance(c.value, int) for c in clauses)  # the store sees whole seconds
    for stored in range(-15, 16):
        expected = {
            "gt": stored > exact,
            "gte": stored >= exact,
            "lt": stored < exact,
            "lte": stored <= exact,
            "eq": stored == exact,
            "neq": stored != exact,
        }[op]
        assert _holds(clauses, stored) == expected, (op, text, stored)


@pytest.mark.parametrize(
    ("value", "op", "epoch"),
    [
        ("2018-09-17T00:13:43+08:00", "eq", "2018-09-16T16:13:43Z"),  # colons, no operator
        ("2018-09-17T00:13", "eq", "2018-09-17T00:13:00Z"),
        ("gt:2018-09-17T00:13:43+08:00", "gt", "2018-09-16T16:13:43Z"),
        ("neq:2018-01-01", "neq", "2018-01-01T00:00:00Z"),
        ("2018-01-01", "eq", "2018-01-01T00:00:00Z"),
    ],
)
def test_the_operator_is_split_as_glance_splits_it(value: str, op: str, epoch: str) -> None:
    assert query.glance_time_clauses("updated_at", value) == [
        query.Clause("updated_at", op, times.parse(epoch))
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("gt:not-a-date", 'Bad "created_at" query filter format. Use ISO 8601 DateTime notation.'),
        ("not-a-date", 'Bad "created_at" query filter format. Use ISO 8601 DateTime notation.'),
        # the time is checked before the operator
        (
            "bogus:not-a-date",
            'Bad "created_at" query filter format. Use ISO 8601 DateTime notation.',
        ),
        ("bogus:2018-01-01", "Unable to filter on a unknown operator."),
        ("GT:2018-01-01", "Unable to filter on a unknown operator."),
        (":2018-01-01", "Unable to filter on a unknown operator."),
    ],
)
def test_bad_time_filters_get_glances_messages(value: str, message: str) -> None:
    with pytest.raises(errors.ApiError) as caught:
        query.glance_time_clauses("created_at", value)
    assert caught.value.status == 400 and caught.value.message == message


def _strptime(text: str, formats: tuple[str, ...]) -> int | None:
    """What `times.parse` read before it used fromisoformat: strptime of each format whose
    digits are all there."""
    for fmt in formats:
        shape = fmt.replace("%Y", "[0-9]{4}")
        for field in ("%m", "%d", "%H", "%M", "%S"):
            shape = shape.replace(field, "[0-9]{2}")
        if not re.fullmatch(shape, text):
            continue
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return int(parsed.replace(tzinfo=UTC).timestamp())
    return None


def _parsed(text: str, formats: tuple[str, ...]) -> int | None:
    try:
        return times.parse(text, formats)
    except ValueError:
        return None


@settings(max_examples=2000, deadline=None, derandomize=True, database=None)
@given(
    fields=st.tuples(
        _number(0, 10000, 4),
        _number(0, 14, 2),
        _number(0, 33, 2),
        _number(0, 26, 2),
        _number(0, 61, 2),
        _number(0, 62, 2),
    ),
    form=st.sampled_from(("{}-{}-{}T{}:{}:{}Z", "{}-{}-{} {}:{}:{}", "{}-{}-{}T{}:{}:{}")),
)
def test_stored_times_are_read_as_strptime_reads_them(fields: tuple[str, ...], form: str) -> None:
    """`times.parse` reads a time with `fromisoformat` once its shape is right: the same
    epoch, and the same refusals (month 13, 30 February, hour 24, second 60, year 0), as
    strptime, for both of its formats."""
    text = form.format(*fields)
    for formats in ((times.RENDER_FORMAT,), times.QUERY_FORMATS):
        assert _parsed(text, formats) == _strptime(text, formats), (text, formats)
