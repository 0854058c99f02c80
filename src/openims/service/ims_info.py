"""What the IMS extension API tells a project about the region rather than about one image:
the OS versions images may declare, and the project's image quota."""

from __future__ import annotations

from typing import Any

from openims.config import IMAGE_QUOTA
from openims.domain import os_versions
from openims.domain.access import Caller
from openims.store.images import ImageStore


class ImsInfo:
    def __init__(self, store: ImageStore, image_quota: int) -> None:
        self.store = store
        self.image_quota = image_quota

    def os_versions(self, tags: list[str]) -> list[dict[str, Any]]:
        """`GET /v1/cloudimages/os_version`: the packaged table, by platform
        (`domain.os_versions` says what each `tag` keeps)."""
        return os_versions.by_platform(tags)

    async def quota(self, caller: Caller) -> dict[str, Any]:
        """`GET /v1/cloudimages/quota`: the images the caller's project owns against the
        configured limit (`Settings.image_quota`), in the documented `quotas.resources`
        shape. The limit is reported, not yet enforced."""
        used = await self.store.owned_count(caller.project_id)
        resource = {
            "type": "image",
            "used": used,
            "quota": self.image_quota,
            "min": IMAGE_QUOTA[0],
            "max": IMAGE_QUOTA[1],
        }
        return {"quotas": {"resources": [resource]}}
