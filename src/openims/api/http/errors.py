"""The HTTP boundary of errors: an `ApiError` becomes a response in its face's words
(`openims.errors` says which words), and FastAPI's own refusals (unknown route, wrong method,
invalid parameters) are answered the same way."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from openims import errors
from openims.errors import ApiError


def response(err: ApiError, path: str) -> Response:
    return Response(
        errors.body(err, path),
        status_code=errors.status(err, path),
        media_type="application/json",
        headers=errors.headers(err),
    )


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
