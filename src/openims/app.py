"""The ASGI application: `create_app(settings)` wires settings, the store, the authenticator and
the routers together. `openims serve` runs it under uvicorn (`factory()` in each worker)."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from openims import __version__, metrics
from openims.api import cloudimages, health, image_patch, native, schemas, versions
from openims.api import errors as api_errors
from openims.api import metrics as api_metrics
from openims.api import openapi as api_openapi
from openims.api.authentication import Authenticate, is_public
from openims.api.limits import HeadLimits
from openims.api.middleware import RequestContext, RouteTemplates
from openims.auth.caller import Authenticator, NoAuth
from openims.config import Settings
from openims.domain.flavors import FlavorCatalog
from openims.store.engine import create_engine
from openims.store.images import ImageStore

log = logging.getLogger("openims")


def authenticator(settings: Settings) -> Authenticator:
    if settings.no_auth:
        return NoAuth()
    from openims.auth.credentials import CredentialsAuthenticator

    checker: Authenticator = CredentialsAuthenticator.from_file(settings.credentials)
    return checker


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    engine = create_engine(
        settings.database_url, pool_size=settings.pool_size, timeout=settings.database_timeout
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(
        title="OpenIMS",
        version=__version__,
        description="A self-hosted image catalog speaking the Huawei Cloud IMS query API "
        "and the OpenStack Glance v2 image API.",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.store = ImageStore(engine)
    app.state.authenticator = authenticator(settings)
    app.state.flavors = FlavorCatalog.load(settings.flavors)
    routers = [m.router for m in (versions, health, cloudimages, native, image_patch, schemas)]
    routers.append(api_metrics.router)
    for router in routers:
        app.include_router(router)
    # the routes as the router tries them: the application's own (the API description), then
    # each included router's, in order
    routes = RouteTemplates([*app.router.routes, *(r for router in routers for r in router.routes)])
    api_errors.install(app)
    metrics.observe_pool(engine)
    app.add_middleware(Authenticate, authenticator=app.state.authenticator)
    app.add_middleware(  # outermost
        RequestContext,
        log_requests=settings.access_log,
        limits=HeadLimits.from_settings(settings),
        engine=engine,
        routes=routes,
    )
    _describe(app, secured=not settings.no_auth)
    return app


def _describe(app: FastAPI, *, secured: bool) -> None:
    """Serve an OpenAPI document whose `$ref`s resolve to the registry-derived schemas and,
    when authentication is on, that names the credentials each operation needs."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            spec.setdefault("components", {}).setdefault("schemas", {}).update(
                api_openapi.components()
            )
            if secured:
                api_openapi.secure(spec, is_public)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]


def factory() -> FastAPI:
    """Entry point for uvicorn workers: settings come from `OPENIMS_*` variables."""
    app = create_app(Settings())
    # The application's own objects (routes, schemas, SQLAlchemy metadata) live as long as the
    # process: move them out of the cyclic collector's sight, so its full passes stay short.
    gc.collect()
    gc.freeze()
    return app
