"""What the routes of every face share: their dependencies, the image id in a path, and
reading a JSON Patch request (`domain.patch`) before any database work."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path
from starlette.requests import Request
from starlette.responses import Response

from openims import errors
from openims.api import deps
from openims.api.http import body, responses
from openims.api.http import errors as http_errors
from openims.domain import access, documents, patch
from openims.domain.access import Caller
from openims.service import Services

CallerDep = Annotated[Caller, Depends(deps.caller)]
ServicesDep = Annotated[Services, Depends(deps.services)]
ImageId = Annotated[str, Path(description="The image ID.", max_length=255)]
# A project ID is 32 hex digits in Huawei Cloud; 64 leaves room for other ID schemes and keeps
# a path with an image ID as well within the path limit, so a too-long ID is a 400, not a 414.
ProjectId = Annotated[str, Path(description="The project ID: the caller's own.", max_length=64)]


def project_caller(project_id: ProjectId, caller: CallerDep) -> Caller:
    """The caller of an IMS path that names a project, once the path names the caller's
    own (`access.require_project`)."""
    access.require_project(caller, project_id)
    return caller


ProjectCallerDep = Annotated[Caller, Depends(project_caller)]


async def read_patch(request: Request, policy: patch.Policy) -> patch.Patch | Response:
    """The patch a request carries, parsed once, by the face's `policy`: the media type first
    (415, with `Accept-Patch` naming the ones the face takes; returned, not raised, to carry
    that header), then the body and its operations (400/413)."""
    try:
        dialect = policy.dialect(request.headers.get("content-type"))
    except errors.ApiError as err:
        refused = http_errors.response(err, request.url.path)
        refused.headers["Accept-Patch"] = ", ".join(policy.media_types)
        return refused
    limit = deps.settings(request).max_patch_operations
    return patch.parse(policy, dialect, await body.json(request), max_operations=limit)


async def patch_image(
    request: Request, policy: patch.Policy, image_id: str, caller: Caller, services: Services
) -> Response:
    """`PATCH` of an image on either face: the faces differ only in their `policy`."""
    changes = await read_patch(request, policy)
    if isinstance(changes, Response):
        return changes
    doc = await services.images.update(caller, image_id, changes)
    return responses.raw(documents.render(doc))
