"""The IMS batch member calls as asynchronous jobs (docs/ims-export-copy.md, "Batch members"):
`batch_add_members` (`imsAddImageMembersJob`), `batch_update_members`
(`imsUpdateImageMembersJob`) and `batch_delete_members` (`imsDelImageMembersJob`).

The body is checked at once (IMS's synchronous 400); the job then makes each (image, project)
change through the Glance member calls (`service.sharing`), one short transaction each, so
that both faces keep one set of members and one set of rules: only an image's owner (or an
admin) adds and removes members, only the member project accepts or rejects, a project a
caller may not see an image of gets that image's 404. Each pair's outcome is a line of the
job's `entities.results`; the job is `SUCCESS` when every pair succeeded, and `FAIL` with the
first failure's code and reason otherwise (the pairs that succeeded stay done).

Every change is written to be made again: a job re-run after a crash adds a member that is
one already, or removes one that is gone, without failing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from openims import errors
from openims.domain import member_batches
from openims.domain.access import Caller
from openims.domain.member_batches import Batch
from openims.service.jobs import JobRun, Jobs
from openims.service.sharing import Sharing

ADD, UPDATE, DELETE = "imsAddImageMembersJob", "imsUpdateImageMembersJob", "imsDelImageMembersJob"
PROGRESS_EVERY = 20  # pairs between two progress reports (each also renews the job's lease)

Change = Callable[[Caller, str, str, Batch], Awaitable[None]]


class MemberBatches:
    def __init__(self, sharing: Sharing, jobs: Jobs) -> None:
        self.sharing = sharing
        self.jobs = jobs
        jobs.register(ADD, self._runner(self._add))
        jobs.register(UPDATE, self._runner(self._update))
        jobs.register(DELETE, self._runner(self._delete))

    async def submit_add(self, caller: Caller, fields: dict[str, Any]) -> str:
        return await self._submit(caller, ADD, member_batches.parse_add(fields))

    async def submit_update(self, caller: Caller, fields: dict[str, Any]) -> str:
        return await self._submit(caller, UPDATE, member_batches.parse_update(fields))

    async def submit_delete(self, caller: Caller, fields: dict[str, Any]) -> str:
        return await self._submit(caller, DELETE, member_batches.parse_add(fields))

    async def _submit(self, caller: Caller, job_type: str, batch: Batch) -> str:
        if caller.read_only:
            raise errors.FORBIDDEN_ACTION(action="modify_member")
        params = {**batch.params(), "roles": sorted(caller.roles)}
        return await self.jobs.submit(caller, job_type, params, entities={"results": []})

    def _runner(self, change: Change) -> Callable[[JobRun], Awaitable[dict[str, Any]]]:
        async def run(job: JobRun) -> dict[str, Any]:
            caller = Caller(job.project_id, frozenset(job.params.get("roles", ())))
            batch = Batch.of(job.params)
            pairs = [(i, p) for i in batch.images for p in batch.projects]
            results: list[dict[str, str]] = []
            first: errors.ApiError | None = None
            for done, (image_id, project_id) in enumerate(pairs, start=1):
                try:
                    await change(caller, image_id, project_id, batch)
                    results.append(member_batches.result(image_id, project_id, True))
                except errors.ApiError as err:
                    first = first or err
                    results.append(member_batches.result(image_id, project_id, False))
                if done % PROGRESS_EVERY == 0:
                    await job.progress(done / len(pairs), results=results)
            if first is not None:
                await job.progress(1.0, results=results)
                raise first
            return {"results": results}

        return run

    async def _add(self, caller: Caller, image_id: str, project_id: str, _: Batch) -> None:
        try:
            await self.sharing.add(caller, image_id, {"member": project_id})
        except errors.ApiError as err:
            if err.spec is not errors.MEMBER_EXISTS:
                raise

    async def _update(self, caller: Caller, image_id: str, project_id: str, batch: Batch) -> None:
        await self.sharing.set_status(caller, image_id, project_id, {"status": batch.status})

    async def _delete(self, caller: Caller, image_id: str, project_id: str, _: Batch) -> None:
        try:
            await self.sharing.remove(caller, image_id, project_id)
        except errors.ApiError as err:
            if err.spec is not errors.MEMBER_NOT_FOUND:
                raise
