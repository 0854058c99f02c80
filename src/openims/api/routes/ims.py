"""The IMS face: the query `GET /v2/cloudimages` and the update `PATCH /v2/cloudimages/{id}`.

Every route reads its request, makes one service call and renders the answer."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from openims.api import deps
from openims.api.http import responses
from openims.api.openapi import spec
from openims.api.routes.common import CallerDep, ImageId, ServicesDep, patch_image
from openims.domain import patch

router = APIRouter(tags=["images (IMS)"])


@router.get(
    "/v2/cloudimages",
    summary="Query images (IMS)",
    openapi_extra=spec.list_parameters(spec.IMS),
    responses=spec.responses(200, "CloudImageList"),
)
async def list_cloudimages(request: Request, caller: CallerDep, services: ServicesDep) -> Response:
    docs = await services.listing.ims(caller, deps.query_pairs(request))
    return responses.raw(b'{"images":[' + b",".join(docs) + b"]}")


@router.patch(
    "/v2/cloudimages/{image_id}",
    summary="Update an image (IMS)",
    description="A JSON array of `{op, path, value}` (op `add`, `replace` or `remove`) as "
    "`application/json`. Only active images; only the name, `__description`, the attributes "
    "IMS lists as updatable and the caller's own lower-case extension attributes may change. "
    "All operations apply, or none. Answers the image as `GET /v2/cloudimages` lists it.",
    openapi_extra=spec.request_body("CloudImageUpdate"),
    responses=spec.responses(200, "Image"),
)
async def update_cloudimage(
    image_id: ImageId, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    return await patch_image(request, patch.IMS, image_id, caller, services)
