"""The IMS calls that create images from files in the object storage, each an asynchronous
job answered `{"job_id": …}` at once (docs/ims-creating.md): `create_image`
(`POST /v2/cloudimages/action`), `create_data_image` (`POST /v1/cloudimages/dataimages/action`),
`import_image_quick` (`POST /v2/cloudimages/quickimport/action`), the v2.1 "safe mode" forms of
the three (`/v2.1/…`, the same bodies and answers), `register_image`
(`PUT /v1/cloudimages/{image_id}/upload`) and `create_whole_image`
(`POST /v1/cloudimages/wholeimages/action`, refused: no ECS or backup exists here).

Every route reads its request, makes one service call and renders the answer."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from openims.api.http import body, responses
from openims.api.openapi import spec
from openims.api.routes.common import CallerDep, ImageId, ServicesDep

router = APIRouter(tags=["creating images (IMS)"])

ACCEPTED = spec.responses(200, "JobAccepted")


def _job(job_id: str) -> Response:
    return responses.json({"job_id": job_id})


@router.post(
    "/v2/cloudimages/action",
    summary="Create an image from a file in object storage (IMS job)",
    openapi_extra=spec.request_body("CreateImageBody"),
    responses=ACCEPTED,
)
async def create_image(request: Request, caller: CallerDep, services: ServicesDep) -> Response:
    return _job(await services.creation.create_image(caller, await body.json_object(request)))


@router.post(
    "/v2.1/cloudimages/action",
    summary="Create an image from a file in object storage, v2.1 (IMS job)",
    openapi_extra=spec.request_body("CreateImageBody"),
    responses=ACCEPTED,
)
async def create_image_in_safe_mode(
    request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    return _job(await services.creation.create_image(caller, await body.json_object(request)))


@router.post(
    "/v1/cloudimages/dataimages/action",
    summary="Create a data disk image from a file in object storage (IMS job)",
    openapi_extra=spec.request_body("CreateDataImageBody"),
    responses=ACCEPTED,
)
async def create_data_image(request: Request, caller: CallerDep, services: ServicesDep) -> Response:
    found = await body.json_object(request)
    return _job(await services.creation.create_data_image(caller, found))


@router.post(
    "/v2.1/cloudimages/dataimages/action",
    summary="Create a data disk image from a file in object storage, v2.1 (IMS job)",
    openapi_extra=spec.request_body("CreateDataImageBody"),
    responses=ACCEPTED,
)
async def create_data_image_in_safe_mode(
    request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    found = await body.json_object(request)
    return _job(await services.creation.create_data_image(caller, found))


@router.post(
    "/v2/cloudimages/quickimport/action",
    summary="Import a RAW or ZVHD2 file quickly as an image (IMS job)",
    openapi_extra=spec.request_body("QuickImportBody"),
    responses=ACCEPTED,
)
async def import_image_quick(
    request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    found = await body.json_object(request)
    return _job(await services.creation.import_image_quick(caller, found))


@router.post(
    "/v2.1/cloudimages/quickimport/action",
    summary="Import a RAW or ZVHD2 file quickly as an image, v2.1 (IMS job)",
    openapi_extra=spec.request_body("QuickImportBody"),
    responses=ACCEPTED,
)
async def import_image_quick_in_safe_mode(
    request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    found = await body.json_object(request)
    return _job(await services.creation.import_image_quick(caller, found))


@router.put(
    "/v1/cloudimages/{image_id}/upload",
    summary="Register a queued image from a file in object storage (IMS job)",
    openapi_extra=spec.request_body("RegisterImageBody"),
    responses=ACCEPTED,
)
async def register_image(
    image_id: ImageId, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    found = await body.json_object(request)
    return _job(await services.creation.register_image(caller, image_id, found))


@router.post(
    "/v1/cloudimages/wholeimages/action",
    summary="Create a full-ECS image (refused: no ECS or backup exists here)",
    openapi_extra=spec.request_body("WholeImageBody"),
    responses=ACCEPTED,
)
async def create_whole_image(
    request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    found = await body.json_object(request)
    return _job(await services.creation.create_whole_image(caller, found))
