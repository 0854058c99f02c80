"""The IMS v1 member calls: the reads, `GET /v1/{project_id}/cloudimages/{image_id}/members
[/{member_id}]`, with the same members, rules and answers as the Glance member calls
(`service.sharing`), on a path that names the caller's project (another project is IMS's
IMG.0067); and the batch changes on `/v1/cloudimages/members` (add POST, update PUT, delete
DELETE), asynchronous jobs over many images and projects (`service.member_batches`).

Every route reads its request, makes one service call and renders the answer."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from openims.api.http import body, responses
from openims.api.openapi import spec
from openims.api.routes.common import CallerDep, ImageId, ProjectCallerDep, ServicesDep

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


@router.post(
    "/v1/cloudimages/members",
    summary="Share images with projects, in a batch (IMS)",
    description="An asynchronous job (imsAddImageMembersJob): each project becomes a "
    "`pending` member of each image; `entities.results` reports every pair.",
    openapi_extra=spec.request_body("MemberBatch"),
    responses=spec.responses(200, "JobSubmitted"),
)
async def batch_add_members(request: Request, caller: CallerDep, services: ServicesDep) -> Response:
    fields = await body.json_object(request)
    return responses.json({"job_id": await services.member_batches.submit_add(caller, fields)})


@router.put(
    "/v1/cloudimages/members",
    summary="Accept or reject shared images, in a batch (IMS)",
    description="An asynchronous job (imsUpdateImageMembersJob): the member project "
    "`project_id` (the caller's own) takes `status` on each image.",
    openapi_extra=spec.request_body("MemberBatchStatus"),
    responses=spec.responses(200, "JobSubmitted"),
)
async def batch_update_members(
    request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    fields = await body.json_object(request)
    return responses.json({"job_id": await services.member_batches.submit_update(caller, fields)})


@router.delete(
    "/v1/cloudimages/members",
    summary="Stop sharing images with projects, in a batch (IMS)",
    description="An asynchronous job (imsDelImageMembersJob): each project stops being a "
    "member of each image.",
    openapi_extra=spec.request_body("MemberBatch"),
    responses=spec.responses(200, "JobSubmitted"),
)
async def batch_delete_members(
    request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    fields = await body.json_object(request)
    return responses.json({"job_id": await services.member_batches.submit_delete(caller, fields)})
