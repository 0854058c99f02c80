"""The ceiling: the same HTTP stack (uvicorn, FastAPI, the request-context middleware) with a
route that returns, from memory, the bytes the real server returned for each benchmark request.
What OpenIMS reaches is reported as a fraction of what this reaches on the same machine.

Started by `benchmarks.run` as `uvicorn benchmarks.ceiling:factory --factory`; the captured
responses come from the JSON file named by `OPENIMS_CEILING_RESPONSES` (path → body)."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from openims import logs
from openims.api.http.middleware import RequestContext

JSON = "application/json"


def factory() -> FastAPI:
    captured: dict[str, str] = orjson.loads(
        Path(os.environ["OPENIMS_CEILING_RESPONSES"]).read_bytes()
    )
    bodies = {key: value.encode() for key, value in captured.items()}
    image = bodies.pop("<image>")  # any /v2/images/{id}: one stored document
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.api_route("/{path:path}", methods=["GET", "PATCH"])
    async def constant(request: Request, path: str) -> Response:
        query = request.url.query
        key = f"/{path}?{query}" if query else f"/{path}"
        found = bodies.get(key)
        if found is None and path.startswith("v2/images/"):
            await request.body()
            found = image
        if found is None:
            return Response(b'{"error":{}}', status_code=404, media_type=JSON)
        return Response(found, media_type=JSON)

    logs.configure(os.environ.get("OPENIMS_LOG_LEVEL", "info"))
    app.add_middleware(RequestContext, log_requests=True)  # the server logs each request too
    return app
