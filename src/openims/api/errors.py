"""Errors as the two faces write them, and the boundary that turns anything unexpected into a
500 (or, when the database is out of reach, a 503) without a stack trace in the body.

IMS paths (`/v2/cloudimages`) answer `{"error": {"message", "code"}}`, as the IMS error-code
page shows. Native Glance paths answer the same object plus Glance's `title`: a nested object is
the shape python-glanceclient, openstacksdk and the IMS SDK all parse (glanceclient reads
`message` from every top-level value, so a flat body would break it). The face also picks the
status of the few refusals whose status IMS and Glance disagree on (`ErrorSpec.ims_status`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from openims.domain import errors
from openims.domain.errors import ApiError

log = logging.getLogger("openims.errors")

IMS_PREFIXES = ("/v2/cloudimages", "/v1/cloudimages")


def is_ims_path(path: str) -> bool:
    return path.startswith(IMS_PREFIXES)


def status(err: ApiError, path: str) -> int:
    """The status `err` answers with on `path`'s face (`ErrorSpec.ims_status`)."""
    return err.spec.status_on(ims=is_ims_path(path))


def body(err: ApiError, path: str) -> bytes:
    content: dict[str, Any] = {"message": err.message, "code": err.code}
    if not is_ims_path(path):
        content["title"] = err.spec.title
    return orjson.dumps({"error": content})


def headers(err: ApiError) -> dict[str, str]:
    """Headers an error response carries besides its body: when to come back after a 503, and
    `Connection: close` after a 408 (the rest of that request may still be on its way)."""
    if err.status == 503:
        return {"Retry-After": "5"}
    if err.status == 408:
        return {"Connection": "close"}
    return {}


def response(err: ApiError, path: str) -> Response:
    return Response(
        body(err, path),
        status_code=status(err, path),
        media_type="application/json",
        headers=headers(err),
    )


def database_unavailable(exc: BaseException) -> bool:
    """True for failures that mean "the database cannot be reached right now"."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError):
        return True
    if isinstance(exc, ConnectionError | asyncio.TimeoutError | OSError):
        return True
    name = type(exc).__module__ + "." + type(exc).__name__
    return name.startswith("asyncpg.") and "Connection" in name


def unexpected(exc: BaseException, request_id: str) -> ApiError:
    """The catalogue error for an exception nothing else handled."""
    if database_unavailable(exc):
        log.warning("database unavailable: %s", type(exc).__name__)
        return errors.DATABASE_UNAVAILABLE()
    log.error("unhandled error, request %s", request_id, exc_info=exc)
    return errors.INTERNAL(request_id=request_id)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return response(exc, request.url.path)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        err = errors.METHOD_NOT_ALLOWED(method=request.method)
    elif exc.status_code == 404:
        err = errors.ROUTE_NOT_FOUND()
    else:
        err = errors.BAD_QUERY(reason=str(exc.detail))
    resp = response(err, request.url.path)
    if exc.headers:
        resp.headers.update(exc.headers)
    return resp


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    err = errors.BAD_QUERY(reason=f"Invalid request: {where}: {first.get('msg', 'invalid')}")
    return response(err, request.url.path)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
