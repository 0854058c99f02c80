"""`/healthz`: liveness and readiness in one answer. It asks the database, so a load balancer
stops sending traffic to a server whose database is out of reach (503) and resumes once the
pool reconnects by itself."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from openims.api import errors as api_errors
from openims.api import openapi, responses

router = APIRouter(tags=["operations"])
log = logging.getLogger("openims.health")
PING_TIMEOUT_SECONDS = 3.0


@router.get(
    "/healthz", summary="Liveness and readiness", responses=openapi.responses(200, "Health", (503,))
)
async def healthz(request: Request) -> Response:
    try:
        await asyncio.wait_for(request.app.state.store.ping(), PING_TIMEOUT_SECONDS)
    except Exception as exc:
        if not api_errors.database_unavailable(exc):
            log.error("health check failed", exc_info=exc)
        return responses.json({"status": "unavailable", "database": "unreachable"}, status=503)
    return responses.json({"status": "ok", "database": "ok"})
