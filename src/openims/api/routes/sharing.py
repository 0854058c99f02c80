"""Sharing on the Glance face: `/v2/images/{id}/members`, Glance's member flow
(`domain.sharing`). Every route reads its request, makes one service call and renders."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from openims.api.http import body, responses
from openims.api.openapi import spec
from openims.api.routes.common import CallerDep, ImageId, ServicesDep

router = APIRouter(tags=["images (Glance)"])


@router.post(
    "/v2/images/{image_id}/members",
    summary="Share an image with a project",
    openapi_extra=spec.request_body("MemberCreate"),
    responses=spec.responses(200, "Member"),
)
async def add_member(
    image_id: ImageId, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    fields = await body.json_object(request)
    return responses.json((await services.sharing.add(caller, image_id, fields)).render())


@router.get(
    "/v2/images/{image_id}/members",
    summary="List the members of an image",
    responses=spec.responses(200, "MemberList"),
)
async def list_members(image_id: ImageId, caller: CallerDep, services: ServicesDep) -> Response:
    members = await services.sharing.list(caller, image_id)
    return responses.json(
        {"members": [m.render() for m in members], "schema": "/v2/schemas/members"}
    )


@router.get(
    "/v2/images/{image_id}/members/{member_id}",
    summary="Show one member",
    responses=spec.responses(200, "Member"),
)
async def show_member(
    image_id: ImageId, member_id: str, caller: CallerDep, services: ServicesDep
) -> Response:
    return responses.json((await services.sharing.show(caller, image_id, member_id)).render())


@router.put(
    "/v2/images/{image_id}/members/{member_id}",
    summary="Accept or reject a share",
    openapi_extra=spec.request_body("MemberUpdate"),
    responses=spec.responses(200, "Member"),
)
async def update_member(
    image_id: ImageId, member_id: str, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    fields = await body.json_object(request)
    member = await services.sharing.set_status(caller, image_id, member_id, fields)
    return responses.json(member.render())


@router.delete(
    "/v2/images/{image_id}/members/{member_id}",
    status_code=204,
    summary="Stop sharing an image with a project",
    responses=spec.responses(204),
)
async def remove_member(
    image_id: ImageId, member_id: str, caller: CallerDep, services: ServicesDep
) -> Response:
    await services.sharing.remove(caller, image_id, member_id)
    return responses.no_content()
