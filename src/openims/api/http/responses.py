"""Response helpers. Documents are already JSON bytes, so most responses are built by joining
bytes; `json` is for the small objects built per request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

JSON = "application/json"


def json(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type=JSON, headers=headers)


def raw(body: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type=JSON, headers=headers)


def no_content(headers: Mapping[str, str] | None = None) -> Response:
    return Response(status_code=204, headers=headers)
