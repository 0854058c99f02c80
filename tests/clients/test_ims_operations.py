"""The IMS extension operations without jobs or object storage, through the official SDK
(`huaweicloudsdkims` `ImsClient`, AK/SK) against a server process with authentication on. Each
call's parsed response model is checked, not only its status (docs/ims-operations.md)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkims.v2 import (
    AddImageTagRequest,
    AddImageTagRequestBody,
    AddOrUpdateTagsRequestBody,
    BatchAddOrDeleteTagsRequest,
    BatchAddOrDeleteTagsRequestBody,
    BatchDeleteTagsRequest,
    BatchDeleteTagsRequestBody,
    CreateOrUpdateTagsRequest,
    DeleteImageTagRequest,
    GlanceAddImageMemberRequest,
    GlanceAddImageMemberRequestBody,
    GlanceCreateImageMetadataRequest,
    GlanceCreateImageMetadataRequestBody,
    GlanceShowImageRequest,
    ImsClient,
    ListImageByTagsRequest,
    ListImageByTagsRequestBody,
    ListImageMembersRequest,
    ListImagesTagsRequest,
    ListImageTagsRequest,
    ListOsVersionsRequest,
    ListTagsRequest,
    ResourceTag,
    ShowImageMemberRequest,
    ShowImageQuotaRequest,
    ShowVersionRequest,
    TagKeyValue,
    Tags,
)

from openims.config import IMAGE_QUOTA
from openims.domain.os_versions import os_versions
from tests.support.servers import TEST_QUOTAS, AuthServer

pytestmark = [
    pytest.mark.clients,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # the SDK's glance_* methods
]


def ims(srv: AuthServer, who: str) -> ImsClient:
    key = srv.keys[who]
    credentials = BasicCredentials(key.access_key, key.secret_key, key.project_id)
    return ImsClient.new_builder().with_credentials(credentials).with_endpoint(srv.url).build()


def create(client: ImsClient, name: str, tags: list[str] | None = None) -> str:
    body = GlanceCreateImageMetadataRequestBody(
        name=name, disk_format="qcow2", container_format="bare", min_disk=40, tags=tags or []
    )
    created = client.glance_create_image_metadata(GlanceCreateImageMetadataRequest(body=body))
    return str(created.id)


def test_show_version(auth_server: AuthServer) -> None:
    sdk = ims(auth_server, "t1")
    for version, expected, path in (
        ("v2", "v2.9", "/v2/"),
        ("v2.1", "v2.1", "/v2/"),
        ("v1", "v1", "/v1/"),
    ):
        [shown] = sdk.show_version(ShowVersionRequest(version=version)).versions
        assert (shown.id, shown.status) == (expected, "CURRENT" if version == "v2" else "SUPPORTED")
        assert [link.href for link in shown.links] == [f"{auth_server.url}{path}"]
        assert [link.rel for link in shown.links] == ["self"]


def test_list_os_versions(auth_server: AuthServer) -> None:
    sdk = ims(auth_server, "t1")
    platforms = sdk.list_os_versions(ListOsVersionsRequest()).body
    table = os_versions()
    assert [p.platform for p in platforms] == list(dict.fromkeys(v.platform for v in table))
    listed = [v for p in platforms for v in p.version_list]
    assert [(v.os_version, v.platform, v.os_type, v.os_bit) for v in listed] == [
        (v.os_version, v.platform, v.os_type, int(v.os_bit)) for v in table
    ]
    assert all(v.os_version_key == v.os_version for v in listed)
    assert not sdk.list_os_versions(ListOsVersionsRequest(tag="arm")).body  # [] parses as None
    with pytest.raises(ClientRequestException) as refused:
        sdk.list_os_versions(ListOsVersionsRequest(tag="sparc"))
    assert (refused.value.status_code, refused.value.error_code) == (400, "IMG.0001")


def test_show_image_quota(auth_server: AuthServer) -> None:
    sdk = ims(auth_server, "t1")
    before = sdk.show_image_quota(ShowImageQuotaRequest()).quotas.resources
    create(sdk, "counted")
    [resource] = sdk.show_image_quota(ShowImageQuotaRequest()).quotas.resources
    assert resource.type == "image"
    assert resource.used == before[0].used + 1
    quota = int(TEST_QUOTAS["OPENIMS_IMAGE_QUOTA"])  # the test servers' setting
    assert (resource.quota, resource.min, resource.max) == (quota, *IMAGE_QUOTA)


def test_list_and_show_image_members(auth_server: AuthServer) -> None:
    owner, member, stranger = (ims(auth_server, who) for who in ("t1", "t2", "t3"))
    image_id = create(owner, "shared out")
    member_project = auth_server.project("t2")
    owner.glance_add_image_member(
        GlanceAddImageMemberRequest(
            image_id=image_id, body=GlanceAddImageMemberRequestBody(member=member_project)
        )
    )
    listed = owner.list_image_members(ListImageMembersRequest(image_id=image_id))
    assert listed.schema == "/v2/schemas/members"
    assert [(m.member_id, m.image_id, m.status) for m in listed.members] == [
        (member_project, image_id, "pending")
    ]
    shown = member.show_image_member(
        ShowImageMemberRequest(image_id=image_id, member_id=member_project)
    )
    assert (shown.member_id, shown.image_id, shown.status) == (member_project, image_id, "pending")
    assert shown.created_at and shown.updated_at and shown.schema == "/v2/schemas/member"
    with pytest.raises(ClientRequestException) as refused:
        stranger.list_image_members(ListImageMembersRequest(image_id=image_id))
    assert (refused.value.status_code, refused.value.error_code) == (404, "IMG.0027")
    with pytest.raises(ClientRequestException) as refused:
        owner.show_image_member(ShowImageMemberRequest(image_id=image_id, member_id="nobody"))
    assert (refused.value.status_code, refused.value.error_code) == (404, "IMG.0144")


# --- the IMS tag API ---------------------------------------------------------------------
def tag(key: str, value: str) -> ResourceTag:
    return ResourceTag(key=key, value=value)


def pairs(tags: list[ResourceTag] | None) -> list[tuple[str, str]]:
    return [(t.key, t.value) for t in tags or []]


def test_tags_through_the_sdk(auth_server: AuthServer) -> None:
    sdk = ims(auth_server, "t1")
    image_id = create(sdk, "tagged", tags=["solo"])
    sdk.add_image_tag(
        AddImageTagRequest(image_id=image_id, body=AddImageTagRequestBody(tag=tag("env", "prod")))
    )
    sdk.batch_add_or_delete_tags(
        BatchAddOrDeleteTagsRequest(
            image_id=image_id,
            body=BatchAddOrDeleteTagsRequestBody(
                action="create", tags=[tag("team", "blue"), tag("tier", "")]
            ),
        )
    )
    sdk.create_or_update_tags(
        CreateOrUpdateTagsRequest(
            body=AddOrUpdateTagsRequestBody(image_id=image_id, tag="os.linux")
        )
    )
    listed = sdk.list_image_tags(ListImageTagsRequest(image_id=image_id)).tags
    assert pairs(listed) == [
        ("solo", ""),
        ("env", "prod"),
        ("team", "blue"),
        ("tier", ""),
        ("os", "linux"),
    ]
    # the Glance face sees the same tags, as strings
    shown = sdk.glance_show_image(GlanceShowImageRequest(image_id=image_id))
    assert shown.tags == ["solo", "env=prod", "team=blue", "tier", "os=linux"]
    v1 = sdk.list_tags(ListTagsRequest(limit=2, page=2, name="tagged", imagetype="private"))
    assert v1.tags == ["team=blue", "tier"]

    project = sdk.list_images_tags(ListImagesTagsRequest()).tags
    assert {(t.key, tuple(t.values)) for t in project} >= {("env", ("prod",)), ("tier", ("",))}

    found = sdk.list_image_by_tags(
        ListImageByTagsRequest(
            body=ListImageByTagsRequestBody(
                action="filter",
                tags=[Tags(key="env", values=["prod"])],
                matches=[TagKeyValue(key="resource_name", value="tagg")],
                limit="10",
                offset="0",
            )
        )
    )
    assert found.total_count == 1
    [resource] = found.resources
    assert (resource.resource_id, resource.resource_name) == (image_id, "tagged")
    assert resource.resource_detail.status == "queued"
    assert ("env", "prod") in pairs(resource.tags)
    counted = sdk.list_image_by_tags(
        ListImageByTagsRequest(
            body=ListImageByTagsRequestBody(
                action="count", not_tags_any=[Tags(key="env", values=[])]
            )
        )
    )
    assert counted.total_count == 0 and not counted.resources

    sdk.delete_image_tag(DeleteImageTagRequest(image_id=image_id, key="env"))
    sdk.batch_delete_tags(
        BatchDeleteTagsRequest(
            image_id=image_id,
            body=BatchDeleteTagsRequestBody(tags=[tag("team", ""), tag("os", "")]),
        )
    )
    sdk.batch_add_or_delete_tags(
        BatchAddOrDeleteTagsRequest(
            image_id=image_id,
            body=BatchAddOrDeleteTagsRequestBody(action="delete", tags=[tag("tier", "")]),
        )
    )
    assert pairs(sdk.list_image_tags(ListImageTagsRequest(image_id=image_id)).tags) == [
        ("solo", "")
    ]


def test_tag_refusals_through_the_sdk(auth_server: AuthServer) -> None:
    owner, stranger = ims(auth_server, "t1"), ims(auth_server, "t2")
    image_id = create(owner, "mine", tags=["env=prod"])

    def refused(call: Callable[[], object]) -> tuple[int, str]:
        with pytest.raises(ClientRequestException) as caught:
            call()
        return caught.value.status_code, caught.value.error_code

    add = AddImageTagRequest(image_id=image_id, body=AddImageTagRequestBody(tag=tag("x", "y")))
    assert refused(lambda: stranger.add_image_tag(add)) == (404, "IMG.0027")
    assert refused(lambda: stranger.list_image_tags(ListImageTagsRequest(image_id=image_id))) == (
        404,
        "IMG.0027",
    )
    bad = AddImageTagRequest(image_id=image_id, body=AddImageTagRequestBody(tag=tag("a b", "")))
    assert refused(lambda: owner.add_image_tag(bad)) == (400, "IMG.0115")
    missing = DeleteImageTagRequest(image_id=image_id, key="nope")
    assert refused(lambda: owner.delete_image_tag(missing)) == (404, "IMG.0115")
    assert pairs(owner.list_image_tags(ListImageTagsRequest(image_id=image_id)).tags) == [
        ("env", "prod")
    ]
