"""Image bytes on the Glance face: `PUT` and `GET /v2/images/{id}/file`.

The routes stream: an upload's body goes to the service chunk by chunk (`body.stream`, outside
the 1 MiB limit of JSON bodies), and a download comes from the store without passing through
memory whole."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from openims import errors, metrics
from openims.api.http import body, responses
from openims.api.http.files import FileShorter, FileSlice
from openims.api.openapi import spec
from openims.api.routes.common import CallerDep, ImageId, ServicesDep
from openims.domain import ranges
from openims.service.image_data import Download

router = APIRouter(tags=["image data (Glance)"])
log = logging.getLogger("openims.data")

OCTET_STREAM = spec.OCTET_STREAM


def require_octet_stream(request: Request) -> None:
    """Image bytes come as `application/octet-stream` (415 otherwise, as Glance answers)."""
    media_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media_type != OCTET_STREAM:
        raise errors.UNSUPPORTED_MEDIA_TYPE(
            media_type=media_type or "(none)", expected=f"Send {OCTET_STREAM}."
        )


@router.put(
    "/v2/images/{image_id}/file",
    status_code=204,
    summary="Upload image data",
    description="The body is the image file (`application/octet-stream`, with a "
    "Content-Length or chunked). The image must be `queued` and have `disk_format` and "
    "`container_format`; it is `saving` while the bytes arrive and `active` once they are "
    "stored, hashed and inspected. A refused or interrupted upload leaves it `queued`.",
    openapi_extra=spec.binary_body(),
    responses=spec.responses(204),
)
async def upload_file(
    image_id: ImageId, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    require_octet_stream(request)
    await services.data.upload(
        caller, image_id, body.stream(request), declared_length=body.declared_length(request)
    )
    return responses.no_content()


@router.get(
    "/v2/images/{image_id}/file",
    summary="Download image data",
    description="The image file; a single `Range: bytes=…` gives 206. An image without data "
    "answers 204.",
    response_class=Response,
    responses={
        **spec.responses(204, errors=(*spec.ERROR_STATUSES, 416)),
        **spec.binary(200, "The image file."),
        **spec.binary(206, "The requested range of the image file."),
    },
)
async def download_file(
    image_id: ImageId, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    header = request.headers.get("range")
    found = await services.data.download(
        caller, image_id, lambda size: ranges.parse_range(header, size)
    )
    return send(found)


def send(found: Download | None, headers: dict[str, str] | None = None) -> Response:
    """The answer to a download (the console's too): the bytes of `found` with their length,
    checksum and range, sent from a local file with sendfile or streamed from the store; 204
    for an image without data."""
    if found is None:
        return Response(status_code=204)
    headers = {**(headers or {}), "Content-Length": str(found.end - found.start)}
    if found.checksum:
        headers["Content-MD5"] = found.checksum  # hex, as Glance sends it
    if found.partial:
        headers["Content-Range"] = f"bytes {found.start}-{found.end - 1}/{found.size}"
    if found.path is not None:
        return FileSlice(
            found.path,
            start=found.start,
            end=found.end,
            status_code=206 if found.partial else 200,
            headers=headers,
            on_short=_cut,
        )
    return StreamingResponse(
        found.chunks(),
        status_code=206 if found.partial else 200,
        media_type=OCTET_STREAM,
        headers=headers,
    )


def _cut(exc: FileShorter) -> None:
    """A file shorter than its recorded size (bytes lost or changed under the store): the
    download was cut; an operator must hear of it."""
    metrics.record_data_error("size_mismatch")
    log.error("image file no longer holds its recorded bytes, download cut: %s", exc)
