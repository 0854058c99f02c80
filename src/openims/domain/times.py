"""UTC times as IMS writes them (`YYYY-MM-DDThh:mm:ssZ`) and as the store keeps them (epoch
seconds). Second resolution is what the API shows, so it is all that is kept: a filter on a
rendered time then means exactly what the caller sees."""

from __future__ import annotations

import decimal
import functools
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

RENDER_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# Query filters accept both documented formats.
QUERY_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S")


def now() -> int:
    return int(time.time())


def render(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime(RENDER_FORMAT)


_SHAPES = {
    "%Y-%m-%dT%H:%M:%SZ": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"),
    "%Y-%m-%d %H:%M:%S": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"),
}


@functools.lru_cache(maxsize=1024)
def parse(text: str, formats: tuple[str, ...] = (RENDER_FORMAT,)) -> int:
    """Epoch seconds of a UTC time in one of `formats`; ValueError if it is none of them.
    The digits are counted first: strptime alone would take `2018-1-2T3:4:5Z`.

    Once the shape is right, the day is read with `date.fromisoformat` (both formats are ISO
    forms: it checks the calendar as strptime does), and the clock's fields are checked and
    added to it: a seventh of strptime's cost, and a third of reading the whole time with
    `datetime.fromisoformat`. An import of a million images parses several million times,
    most of them on a day it has just read, or a time it has just read (an image's
    `created_at`, `updated_at` and `active_at` are often one time, and its row is built from
    the document just checked): the last answers are kept."""
    for fmt in formats:
        if not _SHAPES[fmt].fullmatch(text):
            continue
        hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
        if hour > 23 or minute > 59 or second > 59:
            continue
        day = _day(text[:10])
        if day is None:
            continue
        return day + hour * 3600 + minute * 60 + second
    raise ValueError(f"{text!r} is not a UTC time like 2018-10-28T10:00:00Z")


_EPOCH_DAY = date(1970, 1, 1).toordinal()


@functools.lru_cache(maxsize=4096)
def _day(text: str) -> int | None:
    """Epoch seconds of the midnight that starts the day `YYYY-MM-DD`; None for no such day."""
    try:
        return (date.fromisoformat(text).toordinal() - _EPOCH_DAY) * 86400
    except ValueError:
        return None


def valid(text: str) -> bool:
    """True when `text` is a UTC time as `parse` reads it (its first format)."""
    try:
        parse(text)
    except ValueError:
        return False
    return True


def later(previous: str | None, stamp: int) -> str:
    """The rendered update time for a change made at `stamp`: never earlier than `previous`.

    A clock that steps back, or an imported image dated in the future, must not make
    `updated_at` move backwards. Times have one-second resolution, so two updates within one
    second share an `updated_at`: it is "equal or later", not "strictly later"."""
    if previous is not None:
        stamp = max(stamp, parse(previous))
    return render(stamp)


@dataclass(frozen=True, slots=True)
class Instant:
    """A point in time as whole epoch seconds (rounded down) plus the microseconds past them:
    exact, so a filter can compare it with whole-second stored times without rounding."""

    seconds: int
    micros: int = 0

    @property
    def whole(self) -> bool:
        return self.micros == 0


# The language of pyiso8601 2.x, which Glance's `timeutils.parse_isotime` calls for the
# `created_at`/`updated_at` filters of its image list: a four-digit year, then optionally a
# month, a day and a time whose minutes, seconds, fraction and zone are each optional, in the
# extended (`-`, `:`) or the basic form. The structure, alternation order and greediness are
# pyiso8601's, so an ambiguous text such as `T0013` splits into the same fields;
# tests/unit/test_times.py checks the two parsers agree on generated texts. Like pyiso8601's
# `re.match(...$)`, one trailing newline is allowed.
_ISO8601 = re.compile(
    r"""
    (?P<year>[0-9]{4})
    (?:
        (?: -(?P<month_ext>[0-9]{1,2}) | (?P<month>[0-9]{2})(?!\n?\Z) )  # never bare YYYYMM
        (?:
            (?: -(?P<day_ext>[0-9]{1,2}) | (?P<day>[0-9]{2}) )
            (?:
                [ T]
                (?P<hour>[0-9]{2})
                (?: :?(?P<minute>[0-9]{2}) )?
                (?: :?(?P<second>[0-9]{1,2}) (?: [.,](?P<fraction>[0-9]+) )? )?
                (?P<zone> Z | (?P<sign>[-+])(?P<zone_hour>[0-9]{2}) :? (?P<zone_minute>[0-9]{2})? )?
            )?
        )?
    )?
    \n?
    """,
    re.VERBOSE,
)
# pyiso8601 turns the fraction into microseconds as `int(Decimal("0.F") * 1000000)` in the
# default decimal context: truncated, after rounding to 28 significant digits.
_FRACTION = decimal.Context(prec=28, rounding=decimal.ROUND_HALF_EVEN)
_MILLION = decimal.Decimal("1000000.0")
_EPOCH_DAY = date(1970, 1, 1).toordinal()


def parse_iso8601(text: str) -> Instant:
    """The instant an ISO 8601 text names, as Glance's list filters read it: a text without a
    zone is UTC, an offset is applied, a fraction is kept to the microsecond (truncated).
    ValueError when Glance would refuse the text.

    The arithmetic is on integers, so an offset that carries the time past year 1 or 9999 is
    still exact (Glance's own normalisation would overflow there)."""
    m = _ISO8601.fullmatch(text)
    if m is None:
        raise ValueError(f"{text!r} is not an ISO 8601 time")
    g = m.groupdict()
    month = int(g["month"] or g["month_ext"] or 1)
    day = int(g["day"] or g["day_ext"] or 1)
    hour, minute, second = (int(g[k] or 0) for k in ("hour", "minute", "second"))
    micros = int(_FRACTION.multiply(decimal.Decimal(f"0.{g['fraction'] or 0}"), _MILLION))
    offset = 0  # minutes east of UTC
    if g["sign"] is not None:
        offset = int(g["zone_hour"]) * 60 + int(g["zone_minute"] or 0)
        offset = -offset if g["sign"] == "-" else offset
    try:
        # datetime checks the calendar and the clock (no 24:00, no leap second)
        datetime(int(g["year"]), month, day, hour, minute, second, micros)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid time") from None
    if abs(offset) >= 24 * 60:
        raise ValueError(f"{text!r} has a UTC offset of a day or more")
    days = date(int(g["year"]), month, day).toordinal() - _EPOCH_DAY
    seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset * 60
    return Instant(seconds, micros)
