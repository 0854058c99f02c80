"""The IMS v1 member reads, `GET /v1/{project_id}/cloudimages/{image_id}/members[/{member_id}]`:
the same members, rules and answers as the Glance member calls (`service.sharing`), on a path
that names the caller's project (another project is IMS's IMG.0067).

Every route reads its request, makes one service call and renders the answer."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from openims.api.http import responses
from openims.api.openapi import spec
from openims.api.routes.common import ImageId, ProjectCallerDep, ServicesDep

router = APIRouter(tags=["sharing (IMS)"])


@router.get(
    "/v1/{project_id}/cloudimages/{image_id}/members",
    summary="List the members of an image (IMS)",
    responses=spec.responses(200, "MemberList"),
)
async def list_image_members(
    image_id: ImageId, caller: ProjectCallerDep, services: ServicesDep
) -> Response:
    members = await services.sharing.list(caller, image_id)
    return responses.json(
        {"members": [m.render() for m in members], "schema": "/v2/schemas/members"}
    )


@router.get(
    "/v1/{project_id}/cloudimages/{image_id}/members/{member_id}",
    summary="Show one member of an image (IMS)",
    responses=spec.responses(200, "Member"),
)
async def show_image_member(
    image_id: ImageId, member_id: str, caller: ProjectCallerDep, services: ServicesDep
) -> Response:
    return responses.json((await services.sharing.show(caller, image_id, member_id)).render())
