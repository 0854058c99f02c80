"""The IMS asynchronous job queries: `GET /v1/{project_id}/jobs/{job_id}` (`show_job`) and
`GET /v1/cloudimages/job/{job_id}` (`show_job_progress`, which adds the job's
`process_percent`). A job is its project's only: another project's is the 404 of a missing
one, and a path naming another project is IMS's IMG.0067 (docs/jobs.md).

Every route reads its request, makes one service call and renders the answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.responses import Response

from openims.api.http import responses
from openims.api.openapi import spec
from openims.api.routes.common import CallerDep, ProjectCallerDep, ServicesDep

router = APIRouter(tags=["jobs (IMS)"])

JobId = Annotated[str, Path(description="The job ID (32 hex digits).", max_length=255)]


@router.get(
    "/v1/{project_id}/jobs/{job_id}",
    summary="Show an asynchronous job (IMS)",
    responses=spec.responses(200, "Job"),
)
async def show_job(job_id: JobId, caller: ProjectCallerDep, services: ServicesDep) -> Response:
    return responses.json(await services.jobs.show(caller, job_id))


@router.get(
    "/v1/cloudimages/job/{job_id}",
    summary="Show an asynchronous job's progress (IMS)",
    responses=spec.responses(200, "Job"),
)
async def show_job_progress(job_id: JobId, caller: CallerDep, services: ServicesDep) -> Response:
    return responses.json(await services.jobs.show_progress(caller, job_id))
