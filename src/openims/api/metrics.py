"""`/metrics`: Prometheus metrics of the whole server (see `openims.metrics`). Unauthenticated,
like `/healthz`: it holds counts and timings, never a tenant's data."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from openims import metrics

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    responses={
        200: {
            "description": "Metrics in the Prometheus text format",
            "content": {metrics.CONTENT_TYPE: {"schema": {"type": "string"}}},
        }
    },
)
async def get_metrics(request: Request) -> Response:
    metrics.observe_pool(request.app.state.engine)
    # in multiprocess mode this reads every worker's files: keep it off the event loop
    body = await run_in_threadpool(metrics.render)
    return Response(body, media_type=metrics.CONTENT_TYPE)
