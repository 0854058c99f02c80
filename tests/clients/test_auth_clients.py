"""The real clients, unchanged, against a server with authentication on: the official IMS SDK
with AK/SK (`BasicCredentials`), python-glanceclient and openstacksdk with static tokens.
Nothing but the endpoint and the credentials is configured."""

from __future__ import annotations

import openstack
import pytest
from glanceclient import Client as GlanceClient
from glanceclient import exc as glance_exc
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkims.v2 import (
    GlanceCreateImageMetadataRequest,
    GlanceCreateImageMetadataRequestBody,
    GlanceDeleteImageRequest,
    GlanceListImagesRequest,
    GlanceShowImageRequest,
    GlanceUpdateImageRequest,
    GlanceUpdateImageRequestBody,
    ImsClient,
    ListImagesRequest,
)
from openstack import exceptions as os_exc
from openstack.image.v2 import _proxy as image_v2
from openstack.image.v2._proxy import Proxy as ImageProxy

from tests.support.servers import AuthServer

pytestmark = [
    pytest.mark.clients,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # the SDK's glance_* methods
    pytest.mark.filterwarnings("ignore:::openstack"),  # openstacksdk's own deprecations
]


def ims(srv: AuthServer, who: str, *, secret_key: str | None = None) -> ImsClient:
    key = srv.keys[who]
    credentials = BasicCredentials(key.access_key, secret_key or key.secret_key, key.project_id)
    return ImsClient.new_builder().with_credentials(credentials).with_endpoint(srv.url).build()


def create(client: ImsClient, name: str) -> str:
    body = GlanceCreateImageMetadataRequestBody(
        name=name, disk_format="qcow2", container_format="bare", min_disk=40, tags=["sdk"]
    )
    created = client.glance_create_image_metadata(GlanceCreateImageMetadataRequest(body=body))
    return str(created.id)


def test_ims_sdk_lists_shows_creates_and_deletes(auth_server: AuthServer) -> None:
    sdk = ims(auth_server, "t1")
    image_id = create(sdk, "sdk image")
    shown = sdk.glance_show_image(GlanceShowImageRequest(image_id=image_id))
    assert shown.name == "sdk image" and shown.owner == "tenant-a" and shown.tags == ["sdk"]
    listed = sdk.list_images(ListImagesRequest(imagetype="private", limit=10, name="sdk image"))
    assert [i.id for i in listed.images] == [image_id]
    glance_listed = sdk.glance_list_images(GlanceListImagesRequest(limit=5))
    assert [i.id for i in glance_listed.images] == [image_id]
    # another tenant's SDK does not see it
    other = ims(auth_server, "t2")
    assert other.list_images(ListImagesRequest(imagetype="private")).images == []
    with pytest.raises(ClientRequestException) as hidden:
        other.glance_show_image(GlanceShowImageRequest(image_id=image_id))
    assert hidden.value.status_code == 404
    sdk.glance_delete_image(GlanceDeleteImageRequest(image_id=image_id))
    with pytest.raises(ClientRequestException) as gone:
        sdk.glance_show_image(GlanceShowImageRequest(image_id=image_id))
    assert gone.value.status_code == 404


def test_ims_sdk_admin_creates_public_gold_images(auth_server: AuthServer) -> None:
    body = GlanceCreateImageMetadataRequestBody(name="gold", visibility="public")
    admin = ims(auth_server, "admin")
    gold = admin.glance_create_image_metadata(GlanceCreateImageMetadataRequest(body=body))
    assert gold.visibility == "public"
    listed = ims(auth_server, "t2").list_images(ListImagesRequest(imagetype="gold"))
    assert [i.id for i in listed.images] == [gold.id]
    with pytest.raises(ClientRequestException) as refused:
        ims(auth_server, "t1").glance_create_image_metadata(
            GlanceCreateImageMetadataRequest(body=body)
        )
    assert refused.value.status_code == 403


def test_ims_sdk_with_a_wrong_secret_gets_the_gateway_error(auth_server: AuthServer) -> None:
    wrong = ims(auth_server, "t1", secret_key="not-the-secret")
    with pytest.raises(ClientRequestException) as caught:
        wrong.list_images(ListImagesRequest(limit=1))
    assert caught.value.status_code == 401
    assert caught.value.error_code == "APIGW.0301"
    assert caught.value.error_msg == "Incorrect IAM authentication information."


def test_ims_sdk_with_temporary_credentials_is_refused(auth_server: AuthServer) -> None:
    """A security token makes the SDK's credentials temporary ones, which OpenIMS does not
    have: refused with the gateway's 401, though the AK/SK pair is a valid permanent one."""
    key = auth_server.keys["t1"]
    credentials = BasicCredentials(key.access_key, key.secret_key, key.project_id)
    credentials = credentials.with_security_token("a-temporary-security-token")
    sdk = ImsClient.new_builder().with_credentials(credentials).with_endpoint(auth_server.url)
    with pytest.raises(ClientRequestException) as caught:
        sdk.build().list_images(ListImagesRequest(limit=1))
    assert caught.value.status_code == 401
    assert caught.value.error_code == "APIGW.0301"
    assert ims(auth_server, "t1").list_images(ListImagesRequest(limit=1)).images == []


def test_ims_sdk_updates(auth_server: AuthServer) -> None:
    """The SDK's JSON-patch PATCH is signed with UNSIGNED-PAYLOAD; it must get through."""
    sdk = ims(auth_server, "t1")
    image_id = create(sdk, "before")
    change = [
        GlanceUpdateImageRequestBody(op="replace", path="/name", value="after"),
        GlanceUpdateImageRequestBody(op="replace", path="/min_ram", value="2048"),
    ]
    updated = sdk.glance_update_image(GlanceUpdateImageRequest(image_id=image_id, body=change))
    assert updated.name == "after" and updated.min_ram == 2048
    shown = sdk.glance_show_image(GlanceShowImageRequest(image_id=image_id))
    assert shown.name == "after"
    with pytest.raises(ClientRequestException) as hidden:  # tenancy holds on PATCH too
        ims(auth_server, "t2").glance_update_image(
            GlanceUpdateImageRequest(image_id=image_id, body=change)
        )
    assert hidden.value.status_code == 404


def glance(srv: AuthServer, who: str) -> GlanceClient:
    return GlanceClient("2", endpoint=srv.url, token=srv.tokens[who].token)


def test_glanceclient_with_a_token(auth_server: AuthServer) -> None:
    g = glance(auth_server, "t1")
    image = g.images.create(name="glance", disk_format="qcow2", container_format="bare")
    assert image["owner"] == "tenant-a"
    g.image_tags.update(image["id"], "blue")
    assert g.images.get(image["id"])["tags"] == ["blue"]
    assert [i["id"] for i in g.images.list()] == [image["id"]]
    g.image_members.create(image["id"], "tenant-b")
    other = glance(auth_server, "t2")
    other.image_members.update(image["id"], "tenant-b", "accepted")
    assert [i["id"] for i in other.images.list()] == [image["id"]]
    with pytest.raises(glance_exc.HTTPForbidden):
        other.images.delete(image["id"])
    g.images.delete(image["id"])
    with pytest.raises(glance_exc.HTTPNotFound):
        g.images.get(image["id"])
    bad = GlanceClient("2", endpoint=auth_server.url, token="not-a-token")
    with pytest.raises(glance_exc.HTTPUnauthorized):
        bad.images.get(image["id"])


def openstack_connection(srv: AuthServer, token: str) -> openstack.connection.Connection:
    """openstacksdk without Keystone: a static token and the image endpoint."""
    return openstack.connection.Connection(
        auth_type="admin_token", auth={"endpoint": f"{srv.url}/v2", "token": token}
    )


def test_openstacksdk_with_a_token(auth_server: AuthServer) -> None:
    conn = openstack_connection(auth_server, auth_server.tokens["t2"].token)
    try:
        images = conn.image
        assert isinstance(images, image_v2.Proxy)  # the endpoint is the Image API v2
        image = images.create_image(
            name="osdk", disk_format="qcow2", container_format="bare", allow_duplicates=True
        )
        assert image.owner == "tenant-b"
        images.add_tag(image, "green")
        assert images.get_image(image.id).tags == ["green"]
        assert [i.id for i in images.images()] == [image.id]
        images.delete_image(image)
        with pytest.raises(os_exc.NotFoundException):
            images.get_image(image.id)
    finally:
        conn.close()
    bad = openstack_connection(auth_server, "not-a-token")
    try:
        with pytest.raises(os_exc.HttpException) as caught:
            list(bad.image.images())
        assert caught.value.status_code == 401
    finally:
        bad.close()


def test_openstacksdk_hides_and_finds_hidden_images(auth_server: AuthServer) -> None:
    """openstacksdk's `is_hidden` is Glance's `os_hidden`: `update_image(image,
    is_hidden=True)` patches it, the default list leaves the image out, `is_hidden=True`
    lists it, and `find_image` looks among the hidden images when the others lack it."""
    conn = openstack_connection(auth_server, auth_server.tokens["t1"].token)
    assert isinstance(conn.image, ImageProxy)  # the image API's v2 proxy
    try:
        image = conn.image.create_image(
            name="old-release", disk_format="qcow2", container_format="bare", allow_duplicates=True
        )
        shown = conn.image.create_image(
            name="new-release", disk_format="qcow2", container_format="bare", allow_duplicates=True
        )
        assert image.is_hidden is False
        hidden = conn.image.update_image(image, is_hidden=True)
        assert hidden.is_hidden is True
        assert conn.image.get_image(image.id).is_hidden is True
        assert [i.id for i in conn.image.images()] == [shown.id]
        assert [i.id for i in conn.image.images(is_hidden=True)] == [image.id]
        found = conn.image.find_image("old-release")
        assert found is not None and found.id == image.id
        assert conn.image.update_image(image, is_hidden=False).is_hidden is False
        assert {i.id for i in conn.image.images()} == {image.id, shown.id}
    finally:
        conn.close()
