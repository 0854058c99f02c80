"""Reading request bodies: size-checked, parsed with orjson, refused in the catalogue's words."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from openims import errors
from openims.api import deps


async def read(request: Request) -> bytes:
    """The raw body, refused with 413 when it is larger than the configured limit and with 408
    when it does not arrive in time: a client trickling its body must not hold a request (and
    what it holds) open for ever. Bodies are read before any database work starts."""
    settings = deps.settings(request)
    limit, seconds = settings.max_body_bytes, settings.body_timeout
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise errors.BODY_TOO_LARGE(limit=limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise errors.BODY_TOO_LARGE(limit=limit)
                chunks.append(chunk)
    except TimeoutError:
        raise errors.REQUEST_TIMEOUT(part="body", seconds=seconds) from None
    except ClientDisconnect:
        # the client ended its side early (it may still read the answer): never act on the
        # part of a body that arrived
        raise errors.BODY_INCOMPLETE(
            received=size, expected=declared if declared is not None else "announced"
        ) from None
    return b"".join(chunks)


async def json(request: Request) -> Any:
    data = await read(request)
    if not data.strip():
        raise errors.BODY_EXPECTED()
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise errors.MALFORMED_JSON() from None


async def json_object(request: Request) -> dict[str, Any]:
    value = await json(request)
    if not isinstance(value, dict):
        raise errors.BODY_NOT_OBJECT()
    return value


def declared_length(request: Request) -> int | None:
    """The body's Content-Length, or None when it comes chunked (or says nothing usable)."""
    value = request.headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


async def stream(request: Request) -> AsyncIterator[bytes]:
    """The body of an image upload, chunk by chunk as it arrives: no size limit here (the
    service counts against the image limit) and no deadline for the whole body, which may
    take minutes, but one for each gap between chunks (`body_timeout`), so a client that
    stops sending does not hold an upload open for ever. A body that ends before its
    Content-Length (the client went away) is refused: nothing short is ever stored."""
    seconds = deps.settings(request).body_timeout
    expected = declared_length(request)
    received = 0
    chunks = request.stream().__aiter__()
    while True:
        try:
            async with asyncio.timeout(seconds):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise errors.REQUEST_TIMEOUT(part="body", seconds=seconds) from None
        except ClientDisconnect:
            raise errors.BODY_INCOMPLETE(
                received=received, expected=expected or "announced"
            ) from None
        received += len(chunk)
        if chunk:
            yield chunk
    if expected is not None and received < expected:
        raise errors.BODY_INCOMPLETE(received=received, expected=expected)
