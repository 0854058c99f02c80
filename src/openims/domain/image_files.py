"""Who may put bytes into an image or read them out, and in which status (Glance 33's rules,
measured: ../shared/spec/glance-data-behaviour.md, sections 1–3)."""

from __future__ import annotations

from typing import Any

from openims import errors
from openims.domain.access import Caller, ImageAccess

# Statuses in which an image has bytes a download can serve.
WITH_DATA = frozenset({"active", "deactivated"})


def admit_upload(
    caller: Caller, image: ImageAccess, doc: dict[str, Any], *, target: str, action: str
) -> None:
    """Refuse an upload (`target` "saving") or a staging (`target` "uploading") the caller
    may not start now. The caller already sees the image (else it had its 404): a member, a
    reader or another tenant of a public image is told 403, as Glance tells them."""
    if caller.read_only or not (caller.is_admin or image.owner == caller.project_id):
        raise errors.FORBIDDEN_ACTION(action=action)
    status = doc.get("status")
    if status != "queued":
        raise errors.STATUS_TRANSITION(current=status, target=target)
    if not doc.get("disk_format") or not doc.get("container_format"):
        raise errors.FORMATS_REQUIRED()


def admit_download(caller: Caller, doc: dict[str, Any]) -> bool:
    """Whether the image has bytes to serve (False: the 204 of an image without data), or a
    refusal: readers may not download, and only an admin reads a deactivated image.

    `stores` says that this catalog holds the image's bytes: an image imported from another
    region's catalog may be `active` with a size but without bytes here, and is answered as
    an image without data, not as data gone missing."""
    if caller.read_only:
        raise errors.FORBIDDEN_ACTION(action="download_image")
    status = doc.get("status")
    if status == "deactivated" and not caller.is_admin:
        raise errors.IMAGE_DEACTIVATED()
    return status in WITH_DATA and doc.get("stores") is not None
