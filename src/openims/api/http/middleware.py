"""The outermost layer of every request: its id, its access-log line, its metrics, the limits on
its head and the error boundary.

Written as plain ASGI (not Starlette's BaseHTTPMiddleware) because it runs on every request of
the hot path and must not copy bodies or spawn tasks."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openims import errors, metrics
from openims.api.http.limits import HeadLimits
from openims.errors import ApiError

access_log = logging.getLogger("openims.access")
_GOOD_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
# How much of an unmatched path the access log keeps: enough to recognise what a client or a
# scanner asked for, not enough for one request to write kilobytes into the log.
LOGGED_PATH_CHARS = 200


class RouteTemplates:
    """Finds the route template of a request the router never saw.

    Authentication and the head limits answer before routing, so the scope of a 401 or a 414
    names no route. Rather than count those under `<unmatched>` (or log their raw path, ids
    and all), this matches the path against the application's routes the way Starlette's
    router does: the first full match, else the first route that matches all but the method
    (the router answers that one 405). It runs only for requests without a route, so routed
    requests pay nothing for it.

    `routes` may hold routers' wrappers as well as routes; only plain routes (with a
    template) are used, so the caller passes the leaf routes of every router it includes."""

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        self.routes = [route for route in routes if isinstance(route, Route)]

    def __call__(self, scope: Scope) -> str:
        partial: str | None = None
        for route in self.routes:
            match, _child = route.matches(scope)
            if match is Match.FULL:
                return route.path
            if match is Match.PARTIAL and partial is None:
                partial = route.path
        return partial if partial is not None else metrics.UNMATCHED


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if _GOOD_ID.fullmatch(text):
                return text
    return f"req-{uuid.uuid4()}"


class RequestContext:
    """Gives each request an id (kept from a sane incoming `X-Request-Id`), returns it as
    `X-Request-Id` and `x-openstack-request-id`, refuses a head over the limits, logs one line
    and records the metrics per request, and turns an unhandled exception into the 500/503 body
    of the right face."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        log_requests: bool = True,
        limits: HeadLimits | None = None,
        observe_pool: Callable[[], None] | None = None,
        routes: RouteTemplates | None = None,
    ) -> None:
        self.app = app
        self.log_requests = log_requests
        self.limits = limits
        self.observe_pool = observe_pool
        self.routes = routes

    def _refusal(self, scope: Scope) -> ApiError | None:
        if self.limits is None:
            return None
        size = sum(len(name) + len(value) for name, value in scope.get("headers", ()))
        target = self.limits.target_error(
            len(scope.get("raw_path") or scope["path"].encode()), len(scope["query_string"])
        )
        return target or self.limits.headers_error(size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 0
        raw_id = request_id.encode("latin-1")

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers.append("X-Request-Id", request_id)
                headers.append("x-openstack-request-id", request_id)
            await send(message)

        async def send_error(err: ApiError) -> None:
            nonlocal status
            status = errors.status(err, scope["path"])
            body = errors.body(err, scope["path"])
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", raw_id),
                (b"x-openstack-request-id", raw_id),
            ]
            extra = errors.headers(err).items()
            headers += [(k.lower().encode(), v.encode()) for k, v in extra]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        try:
            refusal = self._refusal(scope)
            if refusal is not None:
                await send_error(refusal)
            else:
                await self.app(scope, receive, send_with_id)
        except Exception as exc:
            err = errors.unexpected(exc, request_id)
            if status:  # the response had started: nothing more can be said to the client
                raise
            await send_error(err)
        finally:
            route = metrics.route_label(scope, self.routes)
            seconds = time.perf_counter() - started
            metrics.record_request(scope["method"], route, status, seconds)
            if self.observe_pool is not None:
                self.observe_pool()
            if self.log_requests:
                caller = state.get("caller")
                fields: dict[str, Any] = {
                    "request_id": request_id,
                    "method": scope["method"],
                    # always a template (or `<unmatched>`), like the metrics label: no id in it
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "project": getattr(caller, "project_id", None),
                }
                if route == metrics.UNMATCHED:
                    # what was asked for, so a wrong client or a scanner can be recognised;
                    # never the query string, and no credential ever travels in a path
                    fields["path"] = _shortened(scope["path"])
                access_log.info("request", extra=fields)


def _shortened(path: str) -> str:
    if len(path) <= LOGGED_PATH_CHARS:
        return path
    return path[:LOGGED_PATH_CHARS] + "…"
