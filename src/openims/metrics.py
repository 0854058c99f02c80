"""Prometheus metrics: request counts and latencies per route template, and the database pool.

Labels are bounded: the route is the template a request matched (`/v2/images/{image_id}`, never
the raw path, so image ids do not become series), requests that match no route share the
route `<unmatched>`, and unusual HTTP methods share the method `OTHER`.

With several worker processes (`openims serve --workers N`), a scrape of `/metrics` reaches one
worker at random: the port is shared and a scraper cannot pick a worker. So that every scrape
shows the whole server, `openims serve` runs prometheus-client's multiprocess mode when it
starts more than one worker: every worker writes its values to files in a private directory
(`PROMETHEUS_MULTIPROC_DIR`), and whichever worker answers a scrape sums them. Counters and
histograms of a worker that died still count; the pool gauges are summed over live workers
only. With one worker the values live in memory, and the usual process metrics come too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from sqlalchemy.ext.asyncio import AsyncEngine

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED = "<unmatched>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Most answers take a millisecond or two: finer buckets at the low end than the library's.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# `_created` series double the output and tell a scraper nothing it needs
disable_created_metrics()  # type: ignore[no-untyped-call]

REQUESTS = Counter(
    "openims_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
DURATION = Histogram(
    "openims_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by method and route template.",
    ["method", "route"],
    buckets=BUCKETS,
)
REFUSED = Counter(
    "openims_http_refused",
    "Requests refused before routing (head too large or too slow, unreadable), by status.",
    ["status"],
)
POOL_SIZE = Gauge(
    "openims_db_pool_size",
    "Configured database connections kept open per pool, summed over workers.",
    multiprocess_mode="livesum",
)
POOL_OPEN = Gauge(
    "openims_db_pool_connections",
    "Database connections open now (idle and checked out), summed over workers.",
    multiprocess_mode="livesum",
)
POOL_CHECKED_OUT = Gauge(
    "openims_db_pool_checked_out",
    "Database connections in use by requests now, summed over workers.",
    multiprocess_mode="livesum",
)
POOL_OVERFLOW = Gauge(
    "openims_db_pool_overflow",
    "Connections open beyond the configured pool size now, summed over workers.",
    multiprocess_mode="livesum",
)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_DIR_ENV) or None


def route_label(
    scope: MutableMapping[str, Any],
    resolve: Callable[[MutableMapping[str, Any]], str] | None = None,
) -> str:
    """The template of the route the request matched, or `<unmatched>`.

    The router records the route it picked in the scope. A request answered before the router
    ran (refused by authentication or by the head limits) has none: `resolve` then finds the
    route the router would have picked, so such a request counts under its route too."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    return resolve(scope) if resolve is not None else UNMATCHED


def method_label(method: str) -> str:
    return method if method in METHODS else "OTHER"


def record_request(method: str, route: str, status: int, seconds: float) -> None:
    method = method_label(method)
    REQUESTS.labels(method, route, str(status)).inc()
    DURATION.labels(method, route).observe(seconds)


def record_refusal(status: int) -> None:
    REFUSED.labels(str(status)).inc()


def observe_pool(engine: AsyncEngine) -> None:
    """Copy the pool's state into the gauges. Called after every request and on every scrape,
    so a worker's figures are never older than its last answer."""
    pool: Any = engine.pool
    size = _call(pool, "size")
    checked_out = _call(pool, "checkedout")
    checked_in = _call(pool, "checkedin")
    POOL_SIZE.set(size)
    POOL_CHECKED_OUT.set(checked_out)
    POOL_OPEN.set(checked_out + checked_in)
    # QueuePool counts overflow from -size (no connection opened yet) upwards
    POOL_OVERFLOW.set(max(0, _call(pool, "overflow")))


def _call(pool: Any, name: str) -> int:
    method = getattr(pool, name, None)
    return int(method()) if callable(method) else 0


def render() -> bytes:
    """The exposition text of this server: of every worker in multiprocess mode."""
    directory = multiprocess_dir()
    if directory is None:
        return generate_latest(REGISTRY)
    _forget_dead_workers(Path(directory))
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w*_(\d+)\.db")


def _forget_dead_workers(directory: Path) -> None:
    """Drop the live-gauge files of workers that are gone (uvicorn replaces a dead worker)."""
    for path in directory.glob("gauge_live*.db"):
        match = _LIVE_GAUGE_FILE.fullmatch(path.name)
        if match and not _alive(int(match.group(1))):
            multiprocess.mark_process_dead(int(match.group(1)), str(directory))  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


IMAGE_DATA_ERRORS = Counter(
    "openims_image_data_errors",
    "Image-data failures an operator must look at, by kind: `size_mismatch` (stored bytes no "
    "longer the recorded size: the download was cut), `store` (the image store failed).",
    ["kind"],
)
IMAGE_BYTES = Counter(
    "openims_image_bytes",
    "Image bytes received (`upload`, `stage`) and sent (`download`).",
    ["direction"],
)


def record_data_error(kind: str) -> None:
    IMAGE_DATA_ERRORS.labels(kind).inc()


def record_image_bytes(direction: str, count: int) -> None:
    IMAGE_BYTES.labels(direction).inc(count)
