"""The IMS extension operations without jobs or object storage, through the official SDK
(`huaweicloudsdkims` `ImsClient`, AK/SK) against a server process with authentication on. Each
call's parsed response model is checked, not only its status (docs/ims-operations.md)."""

from __future__ import annotations

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkims.v2 import (
    GlanceAddImageMemberRequest,
    GlanceAddImageMemberRequestBody,
    GlanceCreateImageMetadataRequest,
    GlanceCreateImageMetadataRequestBody,
    ImsClient,
    ListImageMembersRequest,
    ListOsVersionsRequest,
    ShowImageMemberRequest,
    ShowImageQuotaRequest,
    ShowVersionRequest,
)

from openims.config import IMAGE_QUOTA, IMAGE_QUOTA_DEFAULT
from openims.domain.os_versions import os_versions
from tests.support.servers import AuthServer

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
    assert (resource.quota, resource.min, resource.max) == (IMAGE_QUOTA_DEFAULT, *IMAGE_QUOTA)


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
