"""Limits on a request's head (its target and headers), in one place.

Two places apply them. The HTTP protocol `openims serve` runs (`api.protocol`) checks them as
the bytes arrive, so an oversized head is refused before it is buffered: uvicorn's own parser
would hold a header of any size in memory. The request middleware checks them again, so that
the application keeps its limits under any other ASGI server. Both answer in the API's error
format. Body size and timeouts are checked where the body is read (`api.body`).
"""

from __future__ import annotations

from dataclasses import dataclass

from openims import errors
from openims.config import Settings
from openims.errors import ApiError

MAX_PATH_BYTES = 4096  # ids, tags and member ids are at most 255 characters, percent-encoded


@dataclass(frozen=True, slots=True)
class HeadLimits:
    max_query_bytes: int
    max_header_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> HeadLimits:
        return cls(settings.max_query_bytes, settings.max_header_bytes)

    def target_error(self, path_bytes: int, query_bytes: int) -> ApiError | None:
        """414 for a path or query string over its limit (sizes as sent, percent-encoded)."""
        if path_bytes > MAX_PATH_BYTES:
            return errors.URI_TOO_LONG(part="path", limit=MAX_PATH_BYTES)
        if query_bytes > self.max_query_bytes:
            return errors.URI_TOO_LONG(part="query string", limit=self.max_query_bytes)
        return None

    def headers_error(self, header_bytes: int) -> ApiError | None:
        """431 when the header names and values together exceed the limit."""
        if header_bytes > self.max_header_bytes:
            return errors.HEADERS_TOO_LARGE(limit=self.max_header_bytes)
        return None


def split_target(target: bytes) -> tuple[int, int]:
    """(path bytes, query bytes) of a request target as sent."""
    path, _, query = target.partition(b"?")
    return len(path), len(query)
