"""Project quotas: how many images a project may own and how many bytes of image data they
may hold together (docs/quotas.md). The limits are the settings' defaults unless the operator
set others for the project (`openims quota set`); a byte limit of 0 is no limit, as Glance's
`user_storage_quota` reads it. The store checks them in the transaction that adds an image or
its bytes (`store.quotas.admit`), so two writers at the limit cannot both pass."""

from __future__ import annotations

from dataclasses import dataclass

from openims import errors
from openims.config import IMAGE_QUOTA

UNLIMITED = 0  # a byte limit that is no limit
MAX_IMAGES = 2**31 - 1  # the most an operator may allow (a 32-bit column)


@dataclass(frozen=True, slots=True)
class Limits:
    images: int  # images the project may own
    bytes: int  # bytes of image data its images may hold together; UNLIMITED: no limit

    def over(self, override: Override | None) -> Limits:
        """These limits with the project's own values where the operator set them."""
        if override is None:
            return self
        return Limits(
            self.images if override.images is None else override.images,
            self.bytes if override.bytes is None else override.bytes,
        )


@dataclass(frozen=True, slots=True)
class Override:
    """What the operator set for one project; None keeps the default."""

    project_id: str
    images: int | None
    bytes: int | None


@dataclass(frozen=True, slots=True)
class Usage:
    images: int  # images the project owns (any status, any visibility)
    bytes: int  # the sum of their `size`s


def require_room(
    project_id: str, limits: Limits, usage: Usage, *, images: int = 0, size: int = 0
) -> None:
    """Refuse adding `images` images and `size` bytes to a project at `usage` under `limits`
    (IMS's IMG.0015: 400 on the IMS face, 413 on Glance's)."""
    if images and usage.images + images > limits.images:
        raise errors.IMAGE_QUOTA_EXCEEDED(
            project_id=project_id, used=usage.images, quota=limits.images
        )
    if size and limits.bytes != UNLIMITED and usage.bytes + size > limits.bytes:
        raise errors.STORAGE_QUOTA_EXCEEDED(size=size, remaining=max(0, limits.bytes - usage.bytes))


def bytes_room(limits: Limits, usage: Usage) -> int | None:
    """The bytes a project may still add; None when its byte limit is no limit."""
    if limits.bytes == UNLIMITED:
        return None
    return max(0, limits.bytes - usage.bytes)


def reported_max(limits: Limits) -> int:
    """`max` of `show_image_quota`: IMS's documented bound, or the project's own quota when
    the operator set it higher."""
    return max(IMAGE_QUOTA[1], limits.images)
