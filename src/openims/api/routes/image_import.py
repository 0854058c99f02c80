"""Interoperable import on the Glance face: discovery (`/v2/info/import`, `/v2/info/stores`),
`PUT /v2/images/{id}/stage` and `POST /v2/images/{id}/import` (docs/image-data.md,
"Interoperable import").

Staging streams its body as an upload does (outside the 1 MiB limit of JSON bodies); an import
is answered 202 as soon as it has started, and runs on in the server process."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from openims.api.http import body, responses
from openims.api.openapi import spec
from openims.api.routes.common import CallerDep, ImageId, ServicesDep
from openims.api.routes.image_data import require_octet_stream
from openims.domain import image_import

router = APIRouter(tags=["image import (Glance)"])

IMPORT_BODY = {
    "type": "object",
    "required": ["method"],
    "properties": {
        "method": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "enum": list(image_import.METHODS)},
                "uri": {"type": "string", "description": "web-download: the URI to fetch"},
            },
        },
        "stores": {"type": "array", "items": {"type": "string"}},
        "all_stores": {"type": "boolean"},
        "all_stores_must_succeed": {"type": "boolean"},
    },
}


@router.get(
    "/v2/info/import",
    summary="Import methods offered",
    description="`glance-direct` always; `web-download` when the operator allowed some URL "
    "prefix (`OPENIMS_WEB_DOWNLOAD_ALLOW`).",
    responses=spec.responses(200),
)
async def import_info(_caller: CallerDep, services: ServicesDep) -> Response:
    return responses.json(
        {
            "import-methods": {
                "description": "Import methods available.",
                "type": "array",
                "value": list(services.data.import_methods),
            }
        }
    )


@router.get(
    "/v2/info/stores",
    summary="Image stores",
    description="The one store this server keeps image data in (`fs` or `s3`).",
    responses=spec.responses(200),
)
async def stores_info(_caller: CallerDep, services: ServicesDep) -> Response:
    return responses.json({"stores": services.stores()})


@router.get(
    "/v2/info/stores/detail",
    summary="Image stores, in detail (admin)",
    description="The store's type, weight and properties (never a credential); 403 for "
    "callers who are not admins.",
    responses=spec.responses(200),
)
async def stores_detail(caller: CallerDep, services: ServicesDep) -> Response:
    return responses.json({"stores": services.stores_detail(caller)})


@router.put(
    "/v2/images/{image_id}/stage",
    status_code=204,
    summary="Stage image data for a glance-direct import",
    description="The body is the image file (`application/octet-stream`, with a "
    "Content-Length or chunked), kept as it comes: it is hashed and inspected by the import. "
    "The image must be `queued` and turns `uploading`, with its `size`.",
    openapi_extra=spec.binary_body(),
    responses=spec.responses(204),
)
async def stage(
    image_id: ImageId, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    require_octet_stream(request)
    await services.data.stage(
        caller, image_id, body.stream(request), declared_length=body.declared_length(request)
    )
    return responses.no_content()


@router.post(
    "/v2/images/{image_id}/import",
    status_code=202,
    summary="Import image data",
    description='`{"method": {"name": "glance-direct"}}` imports the staged data; '
    '`{"method": {"name": "web-download", "uri": "https://…"}}` fetches a URI the operator '
    "allows. Answered 202 once the import has started: the image is `importing`, then "
    "`active`, or back as it was with `os_glance_failed_import` set.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": IMPORT_BODY}},
        }
    },
    responses=spec.responses(202),
)
async def import_image(
    image_id: ImageId, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    wanted = image_import.parse_request(
        await body.json_object(request),
        methods=services.data.import_methods,
        allow=services.data.web_download_allow,
    )
    await services.data.start_import(caller, image_id, wanted)
    return Response(status_code=202)
