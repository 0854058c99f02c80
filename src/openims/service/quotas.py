"""Project quotas (docs/quotas.md): what `show_image_quota` reports, the operator's
per-project limits (`openims quota`), and the early refusal other use cases ask for.

The limits are enforced by the store in the transaction that writes (`ImageStore.create` for a
new image, `ImageTx.admit_bytes` for its bytes), so every way of adding an image or data is
checked, race-free; `require_room` is the same check made early, before work that would be
wasted (copying bytes for an image that could not be kept)."""

from __future__ import annotations

from typing import Any

from openims import errors
from openims.config import IMAGE_QUOTA
from openims.domain import quotas
from openims.domain.access import Caller
from openims.domain.quotas import Limits, Override, Usage
from openims.store.images import ImageStore
from openims.store.quotas import QuotaStore


class Quotas:
    def __init__(self, store: ImageStore, defaults: Limits) -> None:
        self.store = QuotaStore(store)
        self.defaults = defaults

    async def limits(self, project_id: str) -> Limits:
        """The project's limits: the operator's where set, the defaults elsewhere."""
        return self.defaults.over(await self.store.get(project_id))

    async def require_room(self, project_id: str, *, images: int = 1, size: int = 0) -> None:
        """Refuse (IMG.0015) unless `project_id` may add `images` images holding `size` bytes
        now. An early check: the write that adds them checks again, under the project's
        quota lock, so concurrent writers cannot both pass the limit."""
        limits = await self.limits(project_id)
        quotas.require_room(
            project_id, limits, await self.store.usage(project_id), images=images, size=size
        )

    async def show(self, caller: Caller) -> dict[str, Any]:
        """`GET /v1/cloudimages/quota`: the images the caller's project owns against its
        limit, in the documented `quotas.resources` shape (`min`/`max`: IMS's bounds)."""
        limits = await self.limits(caller.project_id)
        used = (await self.store.usage(caller.project_id)).images
        resource = {
            "type": "image",
            "used": used,
            "quota": limits.images,
            "min": IMAGE_QUOTA[0],
            "max": quotas.reported_max(limits),
        }
        return {"quotas": {"resources": [resource]}}

    # --- the operator's commands (`openims quota`) ------------------------------------------
    async def set(self, project_id: str, *, images: int | None, size: int | None) -> Override:
        if not project_id.strip():
            raise errors.INVALID_FIELD(name="project_id", reason="a project ID is not empty")
        return await self.store.set(project_id, images=images, size=size)

    async def unset(self, project_id: str) -> bool:
        return await self.store.unset(project_id)

    async def report(self, project_id: str) -> tuple[Limits, Usage, Override | None]:
        """A project's limits, usage, and what the operator set for it."""
        override = await self.store.get(project_id)
        return self.defaults.over(override), await self.store.usage(project_id), override

    async def overrides(self) -> list[Override]:
        return await self.store.all()

    async def make_room(self, headroom: int) -> list[Override]:
        """Give each project that owns `images` limit or more (a catalog loaded by
        `openims import` or `openims demo`, which check no quota) a quota of its own, its
        images plus `headroom`, so that it may still create some; the others keep theirs."""
        raised = []
        for project_id, owned in sorted((await self.store.owners()).items()):
            if owned + 1 > (await self.limits(project_id)).images:
                raised.append(await self.set(project_id, images=owned + headroom, size=None))
        return raised
