"""Who sees and changes what. These rules are the Python form of the visibility condition the
store compiles into SQL for lists (`store.images.visible_to`); tests check the two agree.

- An admin sees and manages every image.
- A common user sees its own images, public and community images, and shared images it is a
  member of (in any member status when asked for by id; lists show accepted ones unless
  `member_status` says otherwise). Other tenants' unregistered images are hidden.
- Lists narrow that by `visibility` and `member_status` (`listed`). The faces differ on one
  shape, `visibility=shared&member_status=S`: the Glance list keeps Glance's union (the
  caller's own shared images and those shared with it in status S; an admin's list ignores
  `member_status`), the IMS list shows only the images shared with the caller in status S.
- Only the owner (or an admin) changes an image. A tenant that cannot see an image gets 404,
  never 403, so it never learns that the image exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openims import errors

MEMBER_STATUSES = ("pending", "accepted", "rejected")
# Every role a caller may hold: `admin` (every tenant), `reader` and `observer` (read only).
# A credential naming any other is refused, since it would silently be a common user.
ROLES = ("admin", "observer", "reader")


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated project making a request, and its roles."""

    project_id: str
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def read_only(self) -> bool:
        """A caller whose only role is `reader` (or `observer`) may not write."""
        return bool(self.roles) and self.roles <= {"reader", "observer"}


@dataclass(frozen=True, slots=True)
class ImageAccess:
    """The facts about one image that the access rules need."""

    owner: str
    visibility: str
    registered: bool
    member_status: str | None  # the caller's membership, if any


def can_see(caller: Caller, image: ImageAccess) -> bool:
    if caller.is_admin or image.owner == caller.project_id:
        return True
    if not image.registered:
        return False
    if image.visibility in ("public", "community"):
        return True
    return image.visibility == "shared" and image.member_status is not None


def _member_in(image: ImageAccess, member_status: str) -> bool:
    """A shared image the caller is a member of, in `member_status` (`all`: in any status)."""
    if image.visibility != "shared" or image.member_status is None:
        return False
    return member_status == "all" or image.member_status == member_status


def listed(
    caller: Caller,
    image: ImageAccess,
    visibility: str | None,
    member_status: str | None,
    *,
    membership_only: bool = False,
) -> bool:
    """Whether a list shows the image, before its attribute filters: the Python form of
    `store.images.visible_to`, which tests check it against.

    Glance's `_select_images_query`: a common user's list is the union of public and
    community images, its own images and the shared images it is a member of in
    `member_status` (default `accepted`), narrowed to `visibility`; without one, other
    tenants' community images are left out. An admin's list is every image, narrowed to
    `visibility` the same way, and ignores `member_status`. `membership_only` is the IMS
    rule for `visibility=shared&member_status=S`: only the images shared with the caller in
    status S, for admins too."""
    own = image.owner == caller.project_id
    if not caller.is_admin and not (own or image.registered):
        return False
    if membership_only and visibility == "shared" and member_status is not None:
        return _member_in(image, member_status)
    if caller.is_admin:
        seen = True
    else:
        seen = (
            own
            or image.visibility in ("public", "community")
            or _member_in(image, member_status or "accepted")
        )
    if visibility is None:
        return seen and (own or image.visibility != "community")
    return seen and (visibility == "all" or image.visibility == visibility)


def can_modify(caller: Caller, image: ImageAccess) -> bool:
    if caller.read_only:
        return False
    return caller.is_admin or image.owner == caller.project_id


def require_visible(caller: Caller, image: ImageAccess, image_id: str) -> None:
    """The one check behind every request for an image by id: an image the caller may not
    see is, to that caller, the 404 of a missing one."""
    if not can_see(caller, image):
        raise errors.IMAGE_NOT_FOUND(image_id=image_id)


def require_project(caller: Caller, project_id: str) -> None:
    """The IMS paths that name a project (`/v1/{project_id}/...`, `/v2/{project_id}/...`)
    act only in the caller's own project: IMS answers another one with IMG.0067 (project ID
    incorrect), whatever the image, before looking at it."""
    if project_id != caller.project_id:
        raise errors.PROJECT_MISMATCH(project_id=project_id)


def require_owner(caller: Caller, image: ImageAccess, action: str) -> None:
    """Glance's 403 for a caller that sees the image but may not change it."""
    if not can_modify(caller, image):
        raise errors.FORBIDDEN_ACTION(action=action)
