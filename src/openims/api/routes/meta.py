"""What clients and operators read before (or besides) images: version discovery, the Glance
JSON schemas, `/healthz`, `/metrics` and the API reference page `/docs`. None of these needs a
caller but the schemas."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from openims import errors, metrics
from openims.api.http import responses
from openims.api.openapi import schemas, spec
from openims.api.routes.common import ServicesDep

log = logging.getLogger("openims.health")
PING_TIMEOUT_SECONDS = 3.0

# --- version discovery -----------------------------------------------------------------------
# At `/` and `/v2`, in the shape Glance answers it. openstacksdk (through keystoneauth) reads
# the versions document without a token before its first call; glanceclient is given the
# endpoint and goes straight to `/v2/...`. `GET /{version}` (the IMS SDK's `show_version`)
# answers one of them, in the `versions` list IMS documents; `/v2` also carries the `version`
# object keystoneauth reads.
versions_router = APIRouter(tags=["versions"])

CURRENT = "v2.9"
SUPPORTED = ("v2.8", "v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0")
# The IMS extension API (`/v1/cloudimages...`): not a Glance version, so `/` does not list it
# (a Glance client must not pick it), but `GET /v1` shows it.
IMS_V1 = "v1"


def _version(version_id: str, status: str, base: str) -> dict[str, Any]:
    path = "/v1/" if version_id == IMS_V1 else "/v2/"
    return {"id": version_id, "status": status, "links": [{"rel": "self", "href": f"{base}{path}"}]}


def _status(version_id: str) -> str:
    return "CURRENT" if version_id == CURRENT else "SUPPORTED"


def versions(request: Request) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    return {"versions": [_version(v, _status(v), base) for v in (CURRENT, *SUPPORTED)]}


@versions_router.get("/", summary="API versions", responses=spec.responses(300, "Versions", ()))
async def root(request: Request) -> Response:
    """Version discovery for clients; a browser (one that asks for HTML) gets a page that
    links to the console and the API reference instead."""
    if "text/html" in request.headers.get("accept", ""):
        return HTMLResponse(BROWSER_ROOT, headers={"Vary": "Accept"})
    return responses.json(versions(request), status=300, headers={"Vary": "Accept"})


BROWSER_ROOT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>OpenIMS</title></head>
<body><h1>OpenIMS</h1><ul>
<li><a href="/console">The web console</a>: browse, edit, share, upload and download images</li>
<li><a href="/docs">The API reference</a> (IMS and Glance)</li>
</ul></body></html>
"""


@versions_router.get(
    "/versions", summary="API versions", responses=spec.responses(200, "Versions", ())
)
async def list_versions(request: Request) -> Response:
    return responses.json(versions(request))


def _show_version(version_id: str) -> Callable[[Request], Awaitable[Response]]:
    async def show(request: Request) -> Response:
        entry = _version(version_id, _status(version_id), str(request.base_url).rstrip("/"))
        return responses.json({"version": entry, "versions": [entry]})

    return show


# `/v2` is the current version; every other id is its own path (`/v2.1`, `/v1`), so a
# catch-all `/{version}` never shadows `/healthz` or `/docs`
VERSION_PATHS = {"/v2": CURRENT, **{f"/{v}": v for v in (CURRENT, *SUPPORTED, IMS_V1)}}
for _path, _version_id in VERSION_PATHS.items():
    versions_router.add_api_route(
        _path,
        _show_version(_version_id),
        methods=["GET"],
        summary=f"The API version {_version_id}",
        responses=spec.responses(200, "Version", ()),
    )
versions_router.add_api_route(
    "/v2/", _show_version(CURRENT), methods=["GET"], include_in_schema=False
)


# --- operations ------------------------------------------------------------------------------
operations_router = APIRouter(tags=["operations"])


@operations_router.get(
    "/healthz", summary="Liveness and readiness", responses=spec.responses(200, "Health", (503,))
)
async def healthz(services: ServicesDep) -> Response:
    """Liveness and readiness in one answer. It asks the database, so a load balancer stops
    sending traffic to a server whose database is out of reach (503) and resumes once the
    pool reconnects by itself."""
    try:
        await asyncio.wait_for(services.ping(), PING_TIMEOUT_SECONDS)
    except Exception as exc:
        if not errors.database_unavailable(exc):
            log.error("health check failed", exc_info=exc)
        return responses.json({"status": "unavailable", "database": "unreachable"}, status=503)
    return responses.json({"status": "ok", "database": "ok"})


@operations_router.get(
    "/metrics",
    summary="Prometheus metrics",
    responses={
        200: {
            "description": "Metrics in the Prometheus text format",
            "content": {metrics.CONTENT_TYPE: {"schema": {"type": "string"}}},
        }
    },
)
async def get_metrics(services: ServicesDep) -> Response:
    """Metrics of the whole server (`openims.metrics`). Unauthenticated, like `/healthz`: it
    holds counts and timings, never a tenant's data."""
    services.observe_pool()
    # in multiprocess mode this reads every worker's files: keep it off the event loop
    body = await run_in_threadpool(metrics.render)
    return Response(body, media_type=metrics.CONTENT_TYPE)


# --- the Glance JSON schemas -----------------------------------------------------------------
schemas_router = APIRouter(tags=["schemas"])


@schemas_router.get(
    "/v2/schemas/image", summary="The image schema", responses=spec.responses(200, "JsonSchema")
)
async def get_image_schema() -> Response:
    return responses.json(schemas.image_schema())


@schemas_router.get(
    "/v2/schemas/images",
    summary="The image list schema",
    responses=spec.responses(200, "JsonSchema"),
)
async def get_images_schema() -> Response:
    return responses.json(schemas.images_schema())


@schemas_router.get(
    "/v2/schemas/member",
    summary="The member schema",
    responses=spec.responses(200, "JsonSchema"),
)
async def get_member_schema() -> Response:
    return responses.json(schemas.member_schema())


@schemas_router.get(
    "/v2/schemas/members",
    summary="The member list schema",
    responses=spec.responses(200, "JsonSchema"),
)
async def get_members_schema() -> Response:
    return responses.json(schemas.members_schema())


# --- the API reference page ------------------------------------------------------------------
# `/docs` renders `/openapi.json` with Swagger UI, from files inside the installed packages
# (fastapi-offline ships Swagger UI's bundle, stylesheet and an icon): the page fetches nothing
# from outside, so it works on a machine without internet access.
docs_router = APIRouter(include_in_schema=False)
DOCS_ASSETS_PATH = "/docs/assets"
_DOCS_ASSETS = {  # name → media type; nothing else is served from the folder
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
_ASSETS = resources.files("fastapi_offline") / "static"


@docs_router.get("/docs")
async def docs_page() -> Response:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="OpenIMS API reference",
        swagger_js_url=f"{DOCS_ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS_PATH}/favicon.png",
        oauth2_redirect_url="/docs/oauth2-redirect",
        # Swagger UI would ask validator.swagger.io for a badge
        swagger_ui_parameters={"validatorUrl": None},
    )


@docs_router.get("/docs/oauth2-redirect")
async def docs_oauth2_redirect() -> Response:
    return get_swagger_ui_oauth2_redirect_html()


@docs_router.get(DOCS_ASSETS_PATH + "/{name}")
async def docs_asset(name: str) -> Response:
    media_type = _DOCS_ASSETS.get(name)
    if media_type is None:
        raise errors.ROUTE_NOT_FOUND()
    body = await run_in_threadpool((_ASSETS / name).read_bytes)
    return Response(body, media_type=media_type, headers={"Cache-Control": "max-age=86400"})
