"""What the IMS extension API tells a project about the region rather than about one image:
the OS versions images may declare. (The project's image quota is `service.quotas`.)"""

from __future__ import annotations

from typing import Any

from openims.domain import os_versions


class ImsInfo:
    def os_versions(self, tags: list[str]) -> list[dict[str, Any]]:
        """`GET /v1/cloudimages/os_version`: the packaged table, by platform
        (`domain.os_versions` says what each `tag` keeps)."""
        return os_versions.by_platform(tags)
