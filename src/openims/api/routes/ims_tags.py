"""The IMS tag API: `/v2/{project_id}/images/...tags` (key/value tags of one image, the
project's tags, images by tag) and the v1 `PUT /v1/cloudimages/tags` and
`DELETE /v1/{project_id}/cloudimages/{image_id}/tags/delete`. They read and write the same tags
as Glance's `PUT /v2/images/{id}/tags/{tag}` (`domain.tags`).

Every route reads its request, makes one service call and renders the answer."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from openims.api import deps
from openims.api.http import body, responses
from openims.api.openapi import spec
from openims.api.routes.common import CallerDep, ImageId, ProjectCallerDep, ServicesDep
from openims.domain import tags

router = APIRouter(tags=["tags (IMS)"])


@router.get(
    "/v2/{project_id}/images/tags",
    summary="List the project's image tags (IMS)",
    description="Every key on the project's own images with its values; a key-only tag has "
    'the value "".',
    responses=spec.responses(200, "ProjectTags"),
)
async def list_images_tags(caller: ProjectCallerDep, services: ServicesDep) -> Response:
    return responses.json({"tags": await services.tags.of_project(caller)})


@router.post(
    "/v2/{project_id}/images/resource_instances/action",
    summary="Query or count the project's images by tag (IMS)",
    openapi_extra=spec.request_body("TagQuery"),
    responses=spec.responses(200, "TagQueryResult"),
)
async def list_image_by_tags(
    request: Request, caller: ProjectCallerDep, services: ServicesDep
) -> Response:
    q = tags.query(await body.json_object(request))
    return responses.json(await services.tags.query(caller, q))


@router.get(
    "/v2/{project_id}/images/{image_id}/tags",
    summary="List an image's tags (IMS)",
    responses=spec.responses(200, "ImageTags"),
)
async def list_image_tags(
    image_id: ImageId, caller: ProjectCallerDep, services: ServicesDep
) -> Response:
    found = await services.tags.of_image(caller, image_id)
    return responses.json({"tags": [t.render() for t in found]})


@router.post(
    "/v2/{project_id}/images/{image_id}/tags",
    status_code=204,
    summary="Add or replace one tag of an image (IMS)",
    openapi_extra=spec.request_body("ImageTagAdd"),
    responses=spec.responses(204),
)
async def add_image_tag(
    image_id: ImageId, request: Request, caller: ProjectCallerDep, services: ServicesDep
) -> Response:
    tag = tags.check((await body.json_object(request)).get("tag"))
    await services.tags.put(caller, image_id, [tag])
    return responses.no_content()


@router.post(
    "/v2/{project_id}/images/{image_id}/tags/action",
    status_code=204,
    summary="Add, replace or delete tags of an image in a batch (IMS)",
    openapi_extra=spec.request_body("ImageTagBatch"),
    responses=spec.responses(204),
)
async def batch_add_or_delete_tags(
    image_id: ImageId, request: Request, caller: ProjectCallerDep, services: ServicesDep
) -> Response:
    creating, batch = tags.batch(await body.json_object(request))
    await services.tags.batch(caller, image_id, batch, creating=creating)
    return responses.no_content()


@router.delete(
    "/v2/{project_id}/images/{image_id}/tags/{key}",
    status_code=204,
    summary="Delete one tag of an image by key (IMS)",
    responses=spec.responses(204),
)
async def delete_image_tag(
    image_id: ImageId, key: str, caller: ProjectCallerDep, services: ServicesDep
) -> Response:
    await services.tags.remove_one(caller, image_id, tags.check_key(key))
    return responses.no_content()


@router.get(
    "/v1/cloudimages/tags",
    summary="List the tags of the images a query selects (IMS v1)",
    description="The filters of `GET /v2/cloudimages` select the images; `limit` and `page` "
    "(1-based) page the tag list.",
    responses=spec.responses(200, "TagStrings"),
)
async def list_tags(request: Request, caller: CallerDep, services: ServicesDep) -> Response:
    return responses.json({"tags": await services.tags.listed(caller, deps.query_pairs(request))})


@router.put(
    "/v1/cloudimages/tags",
    status_code=204,
    summary="Add or change a tag of an image (IMS v1)",
    description='`{"image_id", "tag": "key.value"}` or `{"image_id", "image_tag": {key, '
    "value}}`: either form, not both.",
    openapi_extra=spec.request_body("ImageTagV1"),
    responses=spec.responses(204),
)
async def create_or_update_tags(
    request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    image_id, tag = tags.v1_request(await body.json_object(request))
    await services.tags.put(caller, image_id, [tag])
    return responses.no_content()


@router.delete(
    "/v1/{project_id}/cloudimages/{image_id}/tags/delete",
    status_code=204,
    summary="Delete tags of an image in a batch (IMS v1)",
    openapi_extra=spec.request_body("ImageTagDelete"),
    responses=spec.responses(204),
)
async def batch_delete_tags(
    image_id: ImageId, request: Request, caller: ProjectCallerDep, services: ServicesDep
) -> Response:
    batch = tags.check_list((await body.json_object(request)).get("tags"), writing=False)
    await services.tags.remove(caller, image_id, {t.key for t in batch})
    return responses.no_content()
