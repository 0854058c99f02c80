"""The IMS query API, `GET /v2/cloudimages`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from openims.api import deps, openapi, responses
from openims.domain import query
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
