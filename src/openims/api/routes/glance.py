"""The Glance face: the OpenStack Glance v2 image API under `/v2/images` (create, show, list,
delete, JSON Patch, tags). Sharing (`/v2/images/{id}/members`) has its own module.

Every route reads its request, makes one service call and renders the answer."""

from __future__ import annotations

from urllib.parse import urlencode

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from openims.api import deps
from openims.api.http import body, responses
from openims.api.openapi import spec
from openims.api.routes.common import CallerDep, ImageId, ServicesDep, patch_image
from openims.domain import documents, patch

router = APIRouter(tags=["images (Glance)"])


@router.post(
    "/v2/images",
    status_code=201,
    summary="Create image metadata",
    openapi_extra=spec.request_body("ImageCreate"),
    responses=spec.responses(201, "Image"),
)
async def create_image(request: Request, caller: CallerDep, services: ServicesDep) -> Response:
    doc = await services.images.create(caller, await body.json_object(request))
    location = str(request.base_url).rstrip("/") + f"/v2/images/{doc['id']}"
    return responses.raw(
        documents.render(doc),
        status=201,
        headers={
            "Location": location,
            # what the image may be imported by, and into, as Glance announces it
            "OpenStack-image-import-methods": ",".join(services.data.import_methods),
            "OpenStack-image-store-ids": services.blobs.id,
        },
    )


@router.get(
    "/v2/images/{image_id}", summary="Show an image", responses=spec.responses(200, "Image")
)
async def show_image(image_id: ImageId, caller: CallerDep, services: ServicesDep) -> Response:
    return responses.raw(await services.images.show(caller, image_id))


@router.get(
    "/v2/images",
    summary="List images (Glance)",
    openapi_extra=spec.list_parameters(spec.GLANCE),
    responses=spec.responses(200, "ImageList"),
)
async def list_images(request: Request, caller: CallerDep, services: ServicesDep) -> Response:
    params = deps.query_pairs(request)
    page = await services.listing.glance(caller, params)
    without_marker = [(k, v) for k, v in params if k != "marker"]
    first = "/v2/images" + (f"?{urlencode(without_marker)}" if without_marker else "")
    out = b'{"images":[' + b",".join(page.docs) + b"],"
    out += b'"first":' + orjson.dumps(first) + b',"schema":"/v2/schemas/images"'
    if page.next_marker is not None:
        next_link = "/v2/images?" + urlencode([*without_marker, ("marker", page.next_marker)])
        out += b',"next":' + orjson.dumps(next_link)
    return responses.raw(out + b"}")


@router.delete(
    "/v2/images/{image_id}",
    status_code=204,
    summary="Delete an image",
    responses=spec.responses(204),
)
async def delete_image(image_id: ImageId, caller: CallerDep, services: ServicesDep) -> Response:
    await services.images.delete(caller, image_id)
    return responses.no_content()


@router.patch(
    "/v2/images/{image_id}",
    summary="Update an image (JSON Patch)",
    description="Only the name, the description (`__description`), custom attributes and the "
    "attributes the image schema does not mark read-only may change. All operations apply, "
    "or none.",
    openapi_extra=spec.GLANCE_PATCH_BODY,
    responses=spec.responses(200, "Image"),
)
async def update_image(
    image_id: ImageId, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    return await patch_image(request, patch.GLANCE, image_id, caller, services)


@router.put(
    "/v2/images/{image_id}/tags/{tag}",
    status_code=204,
    summary="Add a tag",
    responses=spec.responses(204),
)
async def add_tag(
    image_id: ImageId, tag: str, caller: CallerDep, services: ServicesDep
) -> Response:
    await services.images.add_tag(caller, image_id, tag)
    return responses.no_content()


@router.delete(
    "/v2/images/{image_id}/tags/{tag}",
    status_code=204,
    summary="Remove a tag",
    responses=spec.responses(204),
)
async def delete_tag(
    image_id: ImageId, tag: str, caller: CallerDep, services: ServicesDep
) -> Response:
    await services.images.remove_tag(caller, image_id, tag)
    return responses.no_content()
