"""The `Range` header of an image download, read as Glance reads it.

Glance hands the header to webob's `Range.parse` and then adds checks of its own
(`glance.common.wsgi.Request.get_range_from_request`, and the download serializer); clients
that work against Glance rely on the answers that produces, quirks included, so this follows
it rather than RFC 9110:

- any `,` makes it a multi-range request: 400, whatever else the header holds;
- the header must *start* with `bytes=first-last` (case-insensitive, spaces allowed around `=`
  and `-`, anything after the match ignored, as webob matches a prefix); anything else, and a
  last position before the first, is a 416 "Invalid Range header." (never ignored);
- a first position at or past the end of the image (every range of a 0-byte image) is a 416
  naming the inclusive range of valid starts;
- the end is clamped to the image; a suffix (`bytes=-N`) at least as long as the image is the
  whole image, and `bytes=-0` reads as `bytes=0-` (webob's `-int("0")` is a start of 0).

Where Glance has no defined answer this picks the nearest refusal: `bytes=-` (webob raises a
ValueError, Glance a 500) is an invalid header, and a suffix range of a 0-byte image (Glance
answers 206 with `Content-Range: bytes 0--1/0`) is the 416 of a bad start. Glance's fallback to
a `Content-Range` *request* header is not followed.
"""

from __future__ import annotations

import re

from openims import errors

# webob.byterange._rx_range, used with `match`: a prefix is enough. ASCII digits only, as the
# header is latin-1 text and int() would read other scripts' digits.
_RANGE = re.compile(r"bytes *= *(\d*) *- *(\d*)", re.IGNORECASE | re.ASCII)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The bytes [start, end) of an image of `size` bytes that `header` asks for, or None when
    there is no `Range` header (the whole image, 200). Raises the catalogue's RANGE_* errors
    for a header Glance refuses; any range returned is non-empty and lies within the image."""
    if header is None:
        return None
    if "," in header:
        raise errors.RANGE_MULTIPLE()
    found = _RANGE.match(header)
    if found is None:
        raise errors.RANGE_INVALID()
    first, last = found.groups()
    if not first:
        if not last:
            raise errors.RANGE_INVALID()  # "bytes=-": webob fails on int("")
        suffix = int(last)
        if size == 0:
            raise errors.RANGE_START_INVALID(last=size - 1)
        # webob reads `-N` as a start of -N, so `-0` is a start of 0: the whole image
        return (size - suffix if 0 < suffix < size else 0), size
    start = int(first)
    end = int(last) + 1 if last else None  # webob's end is exclusive
    if end is not None and start >= end:
        raise errors.RANGE_INVALID()
    if start >= size:
        raise errors.RANGE_START_INVALID(last=size - 1)
    return start, size if end is None else min(end, size)
