"""IMS asynchronous jobs as the API shows them: their ids, statuses and the two bodies of
`GET /v1/{project_id}/jobs/{job_id}` and `GET /v1/cloudimages/job/{job_id}` (docs/jobs.md).
How jobs are stored, claimed and run is `store.jobs` and `service.jobs`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

INIT, RUNNING, SUCCESS, FAIL = "INIT", "RUNNING", "SUCCESS", "FAIL"
STATUSES = (INIT, RUNNING, SUCCESS, FAIL)
ENDED = (SUCCESS, FAIL)


def new_id() -> str:
    """A job id as IMS shows them: 32 lower-case hex digits (`ff8080814dbd65d7014dbe0d84db0013`
    in the docs' examples)."""
    return uuid.uuid4().hex


def is_job_id(text: str) -> bool:
    """Whether `text` could be a job id at all (anything else is a job that does not exist)."""
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


def render_time(epoch: float | None) -> str:
    """A job time as the IMS docs' examples write it, UTC to the millisecond
    (`2024-11-06T06:19:43.195Z`); the empty string for a time not reached yet (the docs show an
    empty `end_time` for a job that has not ended)."""
    if epoch is None:
        return ""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class Job:
    """One job as stored (`store.jobs`)."""

    id: str
    project_id: str
    job_type: str
    status: str
    params: dict[str, Any]
    entities: dict[str, Any]
    progress: float
    attempts: int
    error_code: str | None
    fail_reason: str | None
    created_at: float
    begin_at: float | None
    end_at: float | None
    lease_token: str | None = None
    lease_until: float | None = None

    def body(self, *, with_progress: bool = False) -> dict[str, Any]:
        """The job as `ShowJobResponse` reads it or, `with_progress`, as
        `ShowJobProgressResponse` does (its `entities` also carry `process_percent`, 0.0-1.0).
        `error_code` and `fail_reason` are null unless the job failed."""
        entities = dict(self.entities)
        if with_progress:
            entities["process_percent"] = self.progress
        return {
            "status": self.status,
            "job_id": self.id,
            "job_type": self.job_type,
            "begin_time": render_time(self.begin_at),
            "end_time": render_time(self.end_at),
            "entities": entities,
            "error_code": self.error_code,
            "fail_reason": self.fail_reason,
        }
