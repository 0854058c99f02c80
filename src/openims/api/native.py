"""The Glance v2 native image API: create, show, list, delete, tags and members.

Routes are thin: parse, ask `domain` what is allowed, let `store` do it, render."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Path
from starlette.requests import Request
from starlette.responses import Response

from openims import attributes
from openims.api import body, deps, openapi, responses
from openims.domain import access, documents, errors, query, sharing, times
from openims.domain.access import Caller
from openims.domain.documents import Document
from openims.store.images import ImageStore, Loaded, MemberOps

router = APIRouter(tags=["images (native)"])

CallerDep = Annotated[Caller, Depends(deps.caller)]
StoreDep = Annotated[ImageStore, Depends(deps.store)]
ImageId = Annotated[str, Path(description="The image ID.", max_length=255)]


async def visible_image(store: ImageStore, image_id: str, caller: Caller) -> Loaded:
    loaded = await store.visible(image_id, caller)
    if loaded is None:
        raise errors.IMAGE_NOT_FOUND(image_id=image_id)
    return loaded


def require_owner(caller: Caller, loaded: Loaded, action: str) -> None:
    if not access.can_modify(caller, loaded.access):
        raise errors.FORBIDDEN_ACTION(action=action)


@router.post(
    "/v2/images",
    status_code=201,
    summary="Create image metadata",
    openapi_extra=openapi.request_body("ImageCreate"),
    responses=openapi.responses(201, "Image"),
)
async def create_image(request: Request, caller: CallerDep, store: StoreDep) -> Response:
    fields = await body.json_object(request)
    if caller.read_only:
        raise errors.FORBIDDEN_ACTION(action="add_image")
    image_id = fields.pop("id", None)
    if image_id is None:
        image_id = str(uuid.uuid4())
    else:
        documents.check_value(attributes.BY_NAME["id"], image_id)
    doc = documents.new_image(
        fields,
        image_id=image_id,
        owner=caller.project_id,
        now=times.now(),
        is_admin=caller.is_admin,
    )
    await store.create(doc)
    location = str(request.base_url).rstrip("/") + f"/v2/images/{image_id}"
    return responses.raw(
        documents.render(doc),
        status=201,
        headers={
            "Location": location,
            "OpenStack-image-import-methods": "",
            "OpenStack-image-store-ids": "",
        },
    )


@router.get(
    "/v2/images/{image_id}", summary="Show an image", responses=openapi.responses(200, "Image")
)
async def show_image(image_id: ImageId, caller: CallerDep, store: StoreDep) -> Response:
    loaded = await visible_image(store, image_id, caller)
    return responses.raw(loaded.doc_bytes)


@router.get(
    "/v2/images",
    summary="List images (Glance)",
    openapi_extra=openapi.glance_list_parameters(),
    responses=openapi.responses(200, "ImageList"),
)
async def list_images(request: Request, caller: CallerDep, store: StoreDep) -> Response:
    params = deps.query_pairs(request)
    q = query.parse_glance(params, caller)
    docs = await store.query(q, caller)
    without_marker = [(k, v) for k, v in params if k != "marker"]
    first = "/v2/images" + (f"?{urlencode(without_marker)}" if without_marker else "")
    out = b'{"images":[' + b",".join(docs) + b"],"
    out += b'"first":' + orjson.dumps(first) + b',"schema":"/v2/schemas/images"'
    if docs and len(docs) == q.limit:
        last_id = documents.parse(docs[-1])["id"]
        next_link = "/v2/images?" + urlencode([*without_marker, ("marker", last_id)])
        out += b',"next":' + orjson.dumps(next_link)
    return responses.raw(out + b"}")


@router.delete(
    "/v2/images/{image_id}",
    status_code=204,
    summary="Delete an image",
    responses=openapi.responses(204),
)
async def delete_image(image_id: ImageId, caller: CallerDep, store: StoreDep) -> Response:
    def check(loaded: Loaded) -> None:
        if not access.can_see(caller, loaded.access):
            raise errors.IMAGE_NOT_FOUND(image_id=image_id)
        require_owner(caller, loaded, "delete_image")
        if loaded.doc.get("protected"):
            raise errors.IMAGE_PROTECTED(image_id=image_id)

    if not await store.delete(image_id, caller, check):
        raise errors.IMAGE_NOT_FOUND(image_id=image_id)
    return responses.no_content()


# --- tags ----------------------------------------------------------------------------------
async def _change_tags(
    store: ImageStore, image_id: str, caller: Caller, tag: str, add: bool
) -> None:
    async def change(loaded: Loaded, _members: MemberOps) -> Document | None:
        if not access.can_see(caller, loaded.access):
            raise errors.IMAGE_NOT_FOUND(image_id=image_id)
        require_owner(caller, loaded, "modify_image")
        doc = loaded.doc
        tags = list(doc.get("tags") or [])
        if add:
            if tag in tags:
                return None
            tags.append(tag)
        else:
            if tag not in tags:
                raise errors.TAG_NOT_FOUND(tag=tag)
            tags.remove(tag)
        doc["tags"] = documents.check_tags(tags)
        doc["updated_at"] = times.later(doc.get("updated_at"), times.now())
        return documents.canonical(doc)

    documents.check_tag(tag)
    if await store.modify(image_id, caller, change) is None:
        raise errors.IMAGE_NOT_FOUND(image_id=image_id)


@router.put(
    "/v2/images/{image_id}/tags/{tag}",
    status_code=204,
    summary="Add a tag",
    responses=openapi.responses(204),
)
async def add_tag(image_id: ImageId, tag: str, caller: CallerDep, store: StoreDep) -> Response:
    await _change_tags(store, image_id, caller, tag, add=True)
    return responses.no_content()


@router.delete(
    "/v2/images/{image_id}/tags/{tag}",
    status_code=204,
    summary="Remove a tag",
    responses=openapi.responses(204),
)
async def delete_tag(image_id: ImageId, tag: str, caller: CallerDep, store: StoreDep) -> Response:
    await _change_tags(store, image_id, caller, tag, add=False)
    return responses.no_content()


# --- members -------------------------------------------------------------------------------
@router.post(
    "/v2/images/{image_id}/members",
    summary="Share an image with a project",
    openapi_extra=openapi.request_body("MemberCreate"),
    responses=openapi.responses(200, "Member"),
)
async def add_member(
    image_id: ImageId, request: Request, caller: CallerDep, store: StoreDep
) -> Response:
    fields = await body.json_object(request)
    member_id = sharing.member_id_from(fields)
    result: dict[str, Any] = {}

    async def change(loaded: Loaded, members: MemberOps) -> Document | None:
        if not access.can_see(caller, loaded.access):
            raise errors.IMAGE_NOT_FOUND(image_id=image_id)
        require_owner(caller, loaded, "add_member")
        doc = loaded.doc
        sharing.check_can_share(doc, member_id, await members.count())
        if await members.get(member_id) is not None:
            raise errors.MEMBER_EXISTS(member_id=member_id, image_id=image_id)
        result["member"] = (await members.add(member_id)).render()
        return sharing.shared_document(doc)

    if await store.modify(image_id, caller, change) is None:
        raise errors.IMAGE_NOT_FOUND(image_id=image_id)
    return responses.json(result["member"])


@router.get(
    "/v2/images/{image_id}/members",
    summary="List the members of an image",
    responses=openapi.responses(200, "MemberList"),
)
async def list_members(image_id: ImageId, caller: CallerDep, store: StoreDep) -> Response:
    loaded = await visible_image(store, image_id, caller)
    members = await store.members(image_id)
    if not access.can_modify(caller, loaded.access) and not caller.is_admin:
        members = [m for m in members if m.member_id == caller.project_id]
    return responses.json(
        {"members": [m.render() for m in members], "schema": "/v2/schemas/members"}
    )


@router.get(
    "/v2/images/{image_id}/members/{member_id}",
    summary="Show one member",
    responses=openapi.responses(200, "Member"),
)
async def show_member(
    image_id: ImageId, member_id: str, caller: CallerDep, store: StoreDep
) -> Response:
    loaded = await visible_image(store, image_id, caller)
    may_see = (
        access.can_modify(caller, loaded.access)
        or caller.is_admin
        or member_id == caller.project_id
    )
    found = [m for m in await store.members(image_id) if m.member_id == member_id]
    if not may_see or not found:
        raise errors.MEMBER_NOT_FOUND(member_id=member_id, image_id=image_id)
    return responses.json(found[0].render())


@router.put(
    "/v2/images/{image_id}/members/{member_id}",
    summary="Accept or reject a share",
    openapi_extra=openapi.request_body("MemberUpdate"),
    responses=openapi.responses(200, "Member"),
)
async def update_member(
    image_id: ImageId, member_id: str, request: Request, caller: CallerDep, store: StoreDep
) -> Response:
    status = sharing.status_from(await body.json_object(request))
    result: dict[str, Any] = {}

    async def change(loaded: Loaded, members: MemberOps) -> Document | None:
        if not access.can_see(caller, loaded.access):
            raise errors.IMAGE_NOT_FOUND(image_id=image_id)
        sharing.check_can_set_status(
            caller,
            member_id,
            exists=await members.get(member_id) is not None,
            owns=access.can_modify(caller, loaded.access),
            image_id=image_id,
        )
        updated = await members.set_status(member_id, status)
        assert updated is not None
        result["member"] = updated.render()
        return None

    if await store.modify(image_id, caller, change) is None:
        raise errors.IMAGE_NOT_FOUND(image_id=image_id)
    return responses.json(result["member"])


@router.delete(
    "/v2/images/{image_id}/members/{member_id}",
    status_code=204,
    summary="Stop sharing an image with a project",
    responses=openapi.responses(204),
)
async def remove_member(
    image_id: ImageId, member_id: str, caller: CallerDep, store: StoreDep
) -> Response:
    async def change(loaded: Loaded, members: MemberOps) -> Document | None:
        if not access.can_see(caller, loaded.access):
            raise errors.IMAGE_NOT_FOUND(image_id=image_id)
        require_owner(caller, loaded, "delete_member")
        if not await members.remove(member_id):
            raise errors.MEMBER_NOT_FOUND(member_id=member_id, image_id=image_id)
        return None

    if await store.modify(image_id, caller, change) is None:
        raise errors.IMAGE_NOT_FOUND(image_id=image_id)
    return responses.no_content()
