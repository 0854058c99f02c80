"""The `glance_*` operations of the official IMS SDK and `list_versions`, through `ImsClient`
with AK/SK against a server process with authentication on: tags, members, the four schemas and
the version list, each parsed response model checked (docs/ims-operations.md)."""

from __future__ import annotations

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkims.v2 import (
    GlanceAddImageMemberRequest,
    GlanceAddImageMemberRequestBody,
    GlanceCreateTagRequest,
    GlanceDeleteImageMemberRequest,
    GlanceDeleteTagRequest,
    GlanceListImageMemberSchemasRequest,
    GlanceListImageMembersRequest,
    GlanceListImageSchemasRequest,
    GlanceShowImageMemberRequest,
    GlanceShowImageMemberSchemasRequest,
    GlanceShowImageRequest,
    GlanceShowImageSchemasRequest,
    GlanceUpdateImageMemberRequest,
    GlanceUpdateImageMemberRequestBody,
    ListVersionsRequest,
)

from tests.clients.test_ims_operations import create, ims
from tests.support.servers import AuthServer

pytestmark = [
    pytest.mark.clients,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # the SDK's glance_* methods
]


def test_list_versions(auth_server: AuthServer) -> None:
    versions = ims(auth_server, "t1").list_versions(ListVersionsRequest()).versions
    current = [v for v in versions if v.status == "CURRENT"]
    assert [v.id for v in current] == ["v2.9"]
    assert all(v.links and v.links[0].href.startswith(auth_server.url) for v in versions)
    assert "v1" not in {v.id for v in versions}  # the IMS extension API is not a Glance version


def test_glance_tags(auth_server: AuthServer) -> None:
    sdk = ims(auth_server, "t1")
    image_id = create(sdk, "glance tags")
    sdk.glance_create_tag(GlanceCreateTagRequest(image_id=image_id, tag="blue"))
    sdk.glance_create_tag(GlanceCreateTagRequest(image_id=image_id, tag="env=prod"))
    assert sdk.glance_show_image(GlanceShowImageRequest(image_id=image_id)).tags == [
        "blue",
        "env=prod",
    ]
    sdk.glance_delete_tag(GlanceDeleteTagRequest(image_id=image_id, tag="blue"))
    assert sdk.glance_show_image(GlanceShowImageRequest(image_id=image_id)).tags == ["env=prod"]
    with pytest.raises(ClientRequestException) as refused:
        ims(auth_server, "t2").glance_create_tag(
            GlanceCreateTagRequest(image_id=image_id, tag="theirs")
        )
    assert refused.value.status_code == 404


def test_glance_members(auth_server: AuthServer) -> None:
    owner, member = ims(auth_server, "t1"), ims(auth_server, "t2")
    project = auth_server.project("t2")
    image_id = create(owner, "glance members")
    added = owner.glance_add_image_member(
        GlanceAddImageMemberRequest(
            image_id=image_id, body=GlanceAddImageMemberRequestBody(member=project)
        )
    )
    assert (added.member_id, added.status) == (project, "pending")
    listed = owner.glance_list_image_members(GlanceListImageMembersRequest(image_id=image_id))
    assert [(m.member_id, m.image_id, m.status) for m in listed.members] == [
        (project, image_id, "pending")
    ]
    assert listed.schema == "/v2/schemas/members"
    updated = member.glance_update_image_member(
        GlanceUpdateImageMemberRequest(
            image_id=image_id,
            member_id=project,
            body=GlanceUpdateImageMemberRequestBody(status="accepted"),
        )
    )
    assert (updated.status, updated.schema) == ("accepted", "/v2/schemas/member")
    shown = owner.glance_show_image_member(
        GlanceShowImageMemberRequest(image_id=image_id, member_id=project)
    )
    assert (shown.member_id, shown.status) == (project, "accepted")
    assert shown.created_at and shown.updated_at
    owner.glance_delete_image_member(
        GlanceDeleteImageMemberRequest(image_id=image_id, member_id=project)
    )
    assert not owner.glance_list_image_members(
        GlanceListImageMembersRequest(image_id=image_id)
    ).members
    with pytest.raises(ClientRequestException) as refused:
        member.glance_show_image_member(
            GlanceShowImageMemberRequest(image_id=image_id, member_id=project)
        )
    assert refused.value.status_code == 404


def test_glance_schemas(auth_server: AuthServer) -> None:
    sdk = ims(auth_server, "t1")
    image = sdk.glance_show_image_schemas(GlanceShowImageSchemasRequest())
    assert image.name == "image"
    assert {"id", "name", "os_hidden", "checksum"} <= set(image.properties)
    images = sdk.glance_list_image_schemas(GlanceListImageSchemasRequest())
    assert images.name == "images"
    assert images.properties["images"]["items"]["name"] == "image"
    assert {link.rel for link in images.links} >= {"first", "next", "describedby"}
    member = sdk.glance_show_image_member_schemas(GlanceShowImageMemberSchemasRequest())
    assert member.name == "member"
    assert {"member_id", "status", "image_id"} <= set(member.properties)
    members = sdk.glance_list_image_member_schemas(GlanceListImageMemberSchemasRequest())
    assert members.name == "members"
    assert members.properties["members"]["items"]["name"] == "member"
