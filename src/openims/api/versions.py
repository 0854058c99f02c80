"""Version discovery at `/` and `/v2`, in the shape Glance answers it. openstacksdk (through
keystoneauth) reads the versions document without a token before its first call; glanceclient
is given the endpoint and goes straight to `/v2/...`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from openims.api import openapi, responses

router = APIRouter(tags=["versions"])

CURRENT = "v2.9"
SUPPORTED = ("v2.8", "v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0")


def _version(version_id: str, status: str, base: str) -> dict[str, Any]:
    return {"id": version_id, "status": status, "links": [{"rel": "self", "href": f"{base}/v2/"}]}


def versions(request: Request) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    items = [_version(CURRENT, "CURRENT", base)]
    items += [_version(v, "SUPPORTED", base) for v in SUPPORTED]
    return {"versions": items}


@router.get("/", summary="API versions", responses=openapi.responses(300, "Versions", ()))
async def root(request: Request) -> Response:
    return responses.json(versions(request), status=300)


@router.get("/versions", summary="API versions", responses=openapi.responses(200, "Versions", ()))
async def list_versions(request: Request) -> Response:
    return responses.json(versions(request))


@router.get("/v2", summary="The v2 API version", responses=openapi.responses(200, "Version", ()))
@router.get("/v2/", include_in_schema=False)
async def v2(request: Request) -> Response:
    base = str(request.base_url).rstrip("/")
    return responses.json({"version": _version(CURRENT, "CURRENT", base)})
