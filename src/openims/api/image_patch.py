"""`PATCH /v2/images/{image_id}`: JSON Patch in the two Glance dialects (`domain.patch`).

Order of checks, each refusing before anything is read or written: the media type (415), the
body and its operations (400/413), then, with the image locked, visibility (404), ownership
(403) and each operation (403/409/400)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from openims.api import body, deps, openapi, responses
from openims.api import errors as api_errors
from openims.api.native import ImageId
from openims.domain import documents, errors, patch, times
from openims.domain.access import Caller
from openims.domain.documents import Document
from openims.store.images import ImageStore, Loaded, MemberOps

router = APIRouter(tags=["images (native)"])

_OPERATION_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "op": {"type": "string", "enum": list(patch.V21_OPERATIONS)},
            "path": {"type": "string", "examples": ["/name"]},
            "value": {},
            "from": {"type": "string", "description": "for `move`: the attribute to move"},
        },
        "required": ["op", "path"],
    },
}
_V20_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "description": 'The operation is the key: `{"replace": "/name", "value": "x"}`.',
        "properties": {
            "add": {"type": "string"},
            "remove": {"type": "string"},
            "replace": {"type": "string"},
            "value": {},
        },
    },
}
_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            patch.V21: {"schema": _OPERATION_SCHEMA},
            patch.V20: {"schema": _V20_SCHEMA},
        },
    }
}


@router.patch(
    "/v2/images/{image_id}",
    summary="Update an image (JSON Patch)",
    description="Only the name, the description (`__description`), custom attributes and the "
    "attributes the image schema does not mark read-only may change. All operations apply, "
    "or none.",
    openapi_extra=_REQUEST_BODY,
    responses=openapi.responses(200, "Image"),
)
async def update_image(
    image_id: ImageId,
    request: Request,
    caller: Annotated[Caller, Depends(deps.caller)],
    store: Annotated[ImageStore, Depends(deps.store)],
) -> Response:
    return await update(patch.NATIVE, image_id, request, caller, store)


async def update(
    policy: patch.Policy, image_id: str, request: Request, caller: Caller, store: ImageStore
) -> Response:
    """Patch an image by `policy`: one path for every face, so the faces differ only in what
    their policy says."""
    try:
        dialect = policy.dialect(request.headers.get("content-type"))
    except errors.ApiError as err:
        refused = api_errors.response(err, request.url.path)
        refused.headers["Accept-Patch"] = ", ".join(policy.media_types)
        return refused
    limit: int = request.app.state.settings.max_patch_operations
    changes = patch.parse(policy, dialect, await body.json(request), max_operations=limit)

    async def change(loaded: Loaded, _members: MemberOps) -> Document | None:
        patch.admit(policy, caller, loaded.access, loaded.doc)
        return patch.apply(loaded.doc, changes, caller, now=times.now())

    doc = await store.modify(image_id, caller, change)
    if doc is None:
        raise errors.IMAGE_NOT_FOUND(image_id=image_id)
    return responses.raw(documents.render(doc))
