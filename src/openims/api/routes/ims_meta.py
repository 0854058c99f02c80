"""The IMS extension API's answers about the region: `GET /v1/cloudimages/os_version` (the OS
versions an image may declare) and `GET /v1/cloudimages/quota` (the project's image quota).

Every route reads its request, makes one service call and renders the answer."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from openims.api import deps
from openims.api.http import responses
from openims.api.openapi import spec
from openims.api.routes.common import CallerDep, ServicesDep

router = APIRouter(tags=["region (IMS)"])


@router.get(
    "/v1/cloudimages/os_version",
    summary="List the OS versions images may declare (IMS)",
    description="The packaged OS-version table, one `{platform, version_list}` per platform. "
    "`tag` (repeatable: bms, uefi, arm, x86, kvm) narrows it.",
    responses=spec.responses(200, "OsVersionList"),
)
async def list_os_versions(request: Request, _caller: CallerDep, services: ServicesDep) -> Response:
    tags = [v for k, v in deps.query_pairs(request) if k == "tag"]
    return responses.json(services.ims_info.os_versions(tags))


@router.get(
    "/v1/cloudimages/quota",
    summary="Show the project's image quota (IMS)",
    responses=spec.responses(200, "ImageQuota"),
)
async def show_image_quota(caller: CallerDep, services: ServicesDep) -> Response:
    return responses.json(await services.quotas.show(caller))
