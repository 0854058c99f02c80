"""The IMS image API: the query `GET /v2/cloudimages` and the update
`PATCH /v2/cloudimages/{image_id}`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from openims.api import deps, image_patch, openapi, responses
from openims.api.native import ImageId
from openims.domain import patch, query
from openims.domain.access import Caller
from openims.store.images import ImageStore

router = APIRouter(tags=["images (IMS)"])


@router.get(
    "/v2/cloudimages",
    summary="Query images (IMS)",
    openapi_extra=openapi.ims_list_parameters(),
    responses=openapi.responses(200, "CloudImageList"),
)
async def list_cloudimages(
    request: Request,
    caller: Annotated[Caller, Depends(deps.caller)],
    store: Annotated[ImageStore, Depends(deps.store)],
) -> Response:
    q = query.parse_ims(deps.query_pairs(request), caller)
    flavor_clauses = request.app.state.flavors.clauses(q.extra.get("flavor_id"))
    docs = await store.query(q, caller, extra_clauses=flavor_clauses)
    return responses.raw(b'{"images":[' + b",".join(docs) + b"]}")


@router.patch(
    "/v2/cloudimages/{image_id}",
    summary="Update an image (IMS)",
    description="A JSON array of `{op, path, value}` (op `add`, `replace` or `remove`) as "
    "`application/json`. Only active images; only the name, `__description`, the attributes "
    "IMS lists as updatable and the caller's own lower-case extension attributes may change. "
    "All operations apply, or none. Answers the image as `GET /v2/cloudimages` lists it.",
    openapi_extra=openapi.request_body("CloudImageUpdate"),
    responses=openapi.responses(200, "Image"),
)
async def update_cloudimage(
    image_id: ImageId,
    request: Request,
    caller: Annotated[Caller, Depends(deps.caller)],
    store: Annotated[ImageStore, Depends(deps.store)],
) -> Response:
    return await image_patch.update(patch.IMS, image_id, request, caller, store)
