"""Exporting and copying images, the IMS asynchronous calls on one image: `export_image`
(`POST /v1/cloudimages/{image_id}/file`), `copy_image_in_region` (`…/copy`), their v2.1
"safe mode" twins, and `copy_image_cross_region` (`…/cross_region_copy`). Each answers
`{"job_id": …}` once the request is checked, or IMS's synchronous refusal
(docs/ims-export-copy.md).

Every route reads its request, makes one service call and renders the answer."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from openims.api.http import body, responses
from openims.api.openapi import spec
from openims.api.routes.common import CallerDep, ImageId, ServicesDep

router = APIRouter(tags=["export and copy (IMS)"])


async def _export(
    request: Request, image_id: ImageId, caller: CallerDep, services: ServicesDep
) -> Response:
    fields = await body.json_object(request)
    return responses.json({"job_id": await services.exports.submit(caller, image_id, fields)})


async def _copy(
    request: Request, image_id: ImageId, caller: CallerDep, services: ServicesDep
) -> Response:
    fields = await body.json_object(request)
    return responses.json({"job_id": await services.copies.submit(caller, image_id, fields)})


for _version in ("v1", "v2.1"):
    router.post(
        f"/{_version}/cloudimages/{{image_id}}/file",
        summary=f"Export an image to object storage (IMS {_version})",
        description="An asynchronous job (imsNativeExportImageJob) that writes the image to "
        "`bucket_url` as qcow2, vhd or vmdk, or as stored with `is_quick_export`.",
        openapi_extra=spec.request_body("ExportRequest"),
        responses=spec.responses(200, "JobSubmitted"),
        name=f"export_image_{_version}",
    )(_export)
    router.post(
        f"/{_version}/cloudimages/{{image_id}}/copy",
        summary=f"Copy an image within the region (IMS {_version})",
        description="An asynchronous job (imsCopyImageInRegionJob) that makes a new image of "
        "the caller's project with the same bytes.",
        openapi_extra=spec.request_body("CopyRequest"),
        responses=spec.responses(200, "JobSubmitted"),
        name=f"copy_image_in_region_{_version}",
    )(_copy)


@router.post(
    "/v1/cloudimages/{image_id}/cross_region_copy",
    summary="Copy an image to another region (IMS)",
    description="This deployment is one region (`OPENIMS_REGION`): the request is checked and "
    "refused, as IMS refuses a region it cannot copy to.",
    openapi_extra=spec.request_body("CrossRegionCopyRequest"),
    responses=spec.responses(200, "JobSubmitted"),
)
async def copy_image_cross_region(
    request: Request, image_id: ImageId, caller: CallerDep, services: ServicesDep
) -> Response:
    fields = await body.json_object(request)
    await services.copies.cross_region(caller, image_id, fields)
    return responses.json({})  # never reached: every region is refused
