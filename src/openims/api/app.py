"""The ASGI application: `create_app(settings)` wires the services, the authenticator, the
HTTP plumbing and the routes of every face together. `openims serve` runs it under uvicorn
(`factory()` in each worker)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from openims import __version__, logs
from openims.api import console
from openims.api.http import errors as http_errors
from openims.api.http.authentication import Authenticate, is_public
from openims.api.http.limits import HeadLimits
from openims.api.http.middleware import RequestContext, RouteTemplates
from openims.api.openapi import spec
from openims.api.routes import (
    glance,
    image_data,
    image_import,
    ims,
    ims_creating,
    ims_export,
    ims_jobs,
    ims_members,
    ims_meta,
    ims_tags,
    meta,
    sharing,
)
from openims.auth.caller import Authenticator, NoAuth
from openims.config import Settings
from openims.service import Services
from openims.service.jobs import jittered

log = logging.getLogger("openims.data")


def authenticator(settings: Settings) -> Authenticator:
    if settings.no_auth:
        return NoAuth()
    from openims.auth.credentials import CredentialsAuthenticator

    checker: Authenticator = CredentialsAuthenticator.from_file(settings.credentials)
    return checker


async def sweep_now_and_then(services: Services, lease: float) -> None:
    """Undo uploads of dead processes and drop unowned image data, and forget jobs that ended
    long ago: at start-up, then about every `lease` seconds (each replica at its own moment;
    sweeps are safe together)."""
    while True:
        try:
            await services.data.sweep()
        except Exception:
            log.exception("the image data sweep failed; retrying later")
        try:
            await services.jobs.prune()
        except Exception:
            log.exception("removing old jobs failed; retrying later")
        await asyncio.sleep(jittered(lease))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    services = Services.open(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        sweeping = asyncio.create_task(sweep_now_and_then(services, settings.upload_lease))
        services.jobs.start()
        try:
            yield
        finally:
            await services.jobs.stop()  # a job still running is given back to the others
            sweeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeping
            await services.close()

    app = FastAPI(
        title="OpenIMS",
        version=__version__,
        description="A self-hosted image catalog speaking the Huawei Cloud IMS query API "
        "and the OpenStack Glance v2 image API.",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,  # served by meta.docs_router from packaged files
        redoc_url=None,
    )
    # read through `api.deps` only
    app.state.settings = settings
    app.state.services = services
    app.state.authenticator = authenticator(settings)
    app.state.console_sessions = console.open_sessions(settings)
    routers = [
        meta.versions_router,
        meta.operations_router,
        ims.router,
        glance.router,
        image_data.router,
        image_import.router,
        sharing.router,
        ims_meta.router,
        ims_jobs.router,
        ims_creating.router,
        ims_members.router,
        ims_export.router,
        ims_tags.router,
        meta.schemas_router,
        meta.docs_router,
        console.router,
    ]
    for router in routers:
        app.include_router(router)
    # the routes as the router tries them: the application's own (the API description), then
    # each included router's, in order
    routes = RouteTemplates([*app.router.routes, *(r for router in routers for r in router.routes)])
    http_errors.install(app)
    services.observe_pool()
    app.add_middleware(Authenticate, authenticator=app.state.authenticator)
    app.add_middleware(  # outermost
        RequestContext,
        log_requests=settings.access_log,
        limits=HeadLimits.from_settings(settings),
        observe_pool=services.observe_pool,
        routes=routes,
    )
    _describe(app, secured=not settings.no_auth)
    return app


def _describe(app: FastAPI, *, secured: bool) -> None:
    """Serve an OpenAPI document whose `$ref`s resolve to the registry-derived schemas and,
    when authentication is on, that names the credentials each operation needs."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            described = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            described.setdefault("components", {}).setdefault("schemas", {}).update(
                spec.components()
            )
            if secured:
                spec.secure(described, is_public)
            app.openapi_schema = described
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]


def factory() -> FastAPI:
    """Entry point for uvicorn workers: settings come from `OPENIMS_*` variables. A worker of
    `--workers` > 1 is a new process, so it sets up the log itself."""
    settings = Settings()
    logs.configure(settings.log_level)
    app = create_app(settings)
    # The application's own objects (routes, schemas, SQLAlchemy metadata) live as long as the
    # process: move them out of the cyclic collector's sight, so its full passes stay short.
    gc.collect()
    gc.freeze()
    return app
