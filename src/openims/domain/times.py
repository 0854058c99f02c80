"""UTC times as IMS writes them (`YYYY-MM-DDThh:mm:ssZ`) and as the store keeps them (epoch
seconds). Second resolution is what the API shows, so it is all that is kept: a filter on a
rendered time then means exactly what the caller sees."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

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


def parse(text: str, formats: tuple[str, ...] = (RENDER_FORMAT,)) -> int:
    """Epoch seconds of a UTC time in one of `formats`; ValueError if it is none of them.
    The digits are counted first: strptime alone would take `2018-1-2T3:4:5Z`."""
    for fmt in formats:
        if not _SHAPES[fmt].fullmatch(text):
            continue
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return int(parsed.replace(tzinfo=UTC).timestamp())
    raise ValueError(f"{text!r} is not a UTC time like 2018-10-28T10:00:00Z")


def later(previous: str | None, stamp: int) -> str:
    """The rendered update time for a change made at `stamp`: never earlier than `previous`.

    A clock that steps back, or an imported image dated in the future, must not make
    `updated_at` move backwards. Times have one-second resolution, so two updates within one
    second share an `updated_at`: it is "equal or later", not "strictly later"."""
    if previous is not None:
        stamp = max(stamp, parse(previous))
    return render(stamp)
