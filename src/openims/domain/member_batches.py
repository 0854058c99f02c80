"""The IMS batch member calls (`/v1/cloudimages/members`: `batch_add_members` POST,
`batch_update_members` PUT, `batch_delete_members` DELETE): their bodies, checked before a job
is submitted, and how a job reports each image (docs/ims-export-copy.md, "Batch members").

Each (image, project) pair is one change through the Glance member calls (`service.sharing`),
so both faces share one set of members and rules; a job's `entities.results` lists every pair
as IMS's `JobEntitiesResult` (`image_id`, `project_id`, `status` `success` or `failed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openims import errors
from openims.domain import sharing

MAX_IMAGES = 100  # images in one batch (IMS documents none; this bounds one job's work)
MAX_PROJECTS = sharing.MAX_MEMBERS  # more could never all be members of one image
# the statuses IMS's batch update documents (Glance's single update also takes `pending`)
BATCH_STATUSES = ("accepted", "rejected")
SUCCESS, FAILED = "success", "failed"


@dataclass(frozen=True, slots=True)
class Batch:
    """The images and projects of a batch, each once, in the order given."""

    images: tuple[str, ...]
    projects: tuple[str, ...]
    status: str | None = None  # an update's new status

    def params(self) -> dict[str, Any]:
        return {"images": list(self.images), "projects": list(self.projects), "status": self.status}

    @classmethod
    def of(cls, params: dict[str, Any]) -> Batch:
        return cls(tuple(params["images"]), tuple(params["projects"]), params.get("status"))


def _ids(fields: dict[str, Any], name: str, limit: int) -> tuple[str, ...]:
    value = fields.get(name)
    if not isinstance(value, list) or not value:
        raise errors.INVALID_FIELD(name=name, reason="required: a non-empty array of IDs")
    if len(value) > limit:
        raise errors.INVALID_FIELD(name=name, reason=f"at most {limit} IDs in one request")
    for item in value:
        if name == "projects":
            sharing.member_id_from({"member": item})
        else:
            _image_id(item)
    return tuple(dict.fromkeys(value))


def _image_id(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 255 or not value.isprintable():
        raise errors.INVALID_FIELD(name="images", reason="each image ID is a non-empty string")
    return value


def _no_domains(fields: dict[str, Any]) -> None:
    """`domains` and `organizations` (the SDK's model has them) share with accounts and
    organizations, which this deployment does not have: refused unless empty."""
    for name in ("domains", "organizations"):
        value = fields.get(name)
        if value is not None and value != []:
            raise errors.BATCH_SHARING_UNSUPPORTED(what=name)


def parse_add(fields: dict[str, Any]) -> Batch:
    """`BatchAddMembersRequestBody` (also the body of a batch delete): `images` and
    `projects`, each a non-empty array."""
    _no_domains(fields)
    return Batch(_ids(fields, "images", MAX_IMAGES), _ids(fields, "projects", MAX_PROJECTS))


def parse_update(fields: dict[str, Any]) -> Batch:
    """`BatchUpdateMembersRequestBody`: `images`, the member `project_id` and the `status`
    it takes (`accepted` or `rejected`); `vault_id` (for CBR full-ECS images, which this
    deployment does not have) is accepted and has no effect."""
    images = _ids(fields, "images", MAX_IMAGES)
    project = fields.get("project_id")
    sharing.member_id_from({"member": project})
    status = fields.get("status")
    if status not in BATCH_STATUSES:
        raise errors.INVALID_FIELD(name="status", reason="accepted or rejected")
    vault = fields.get("vault_id")
    if vault is not None and not isinstance(vault, str):
        raise errors.INVALID_FIELD(name="vault_id", reason="a string")
    return Batch(images, (str(project),), str(status))


def result(image_id: str, project_id: str, ok: bool) -> dict[str, str]:
    """One pair's line of `entities.results`."""
    return {"image_id": image_id, "project_id": project_id, "status": SUCCESS if ok else FAILED}
