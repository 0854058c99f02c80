"""The official IMS SDK (`huaweicloudsdkims`), unchanged, patching images on a real server.

`ImsClient.glance_update_image` sends `application/openstack-images-v2.1-json-patch` with the
list of `GlanceUpdateImageRequestBody` objects serialised as JSON (attributes left `None` are
dropped, so a `remove` carries no `value`). The body model declares `value` a string, so SDK
users send integers as `"2048"`. The no-auth server takes the project from the `X-Project-Id`
header the SDK sends with `BasicCredentials`.

`ImsClient.update_image` is the IMS update API: `PATCH /v2/cloudimages/{image_id}` with the
same kind of list as `application/json;charset=UTF-8`, which the SDK signs over the body's
hash; it parses the answer as `UpdateImageResponse`. Those tests run with authentication on,
with each tenant's own AK/SK."""

from __future__ import annotations

import warnings
from typing import Any

import httpx
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions import exceptions as sdk_exceptions
from huaweicloudsdkims.v2 import (
    GlanceCreateImageMetadataRequest,
    GlanceCreateImageMetadataRequestBody,
    GlanceUpdateImageRequest,
    GlanceUpdateImageRequestBody,
    ImsClient,
    ListImagesRequest,
    UpdateImageRequest,
    UpdateImageRequestBody,
)

from tests.support.catalogs import load, private, shared
from tests.support.servers import AuthServer, Server

pytestmark = [
    pytest.mark.clients,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # glance_* are deprecated aliases
]


def ims(server: Server, project: str = "p1") -> ImsClient:
    credentials = BasicCredentials("test-ak", "test-sk", project)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (
            ImsClient.new_builder().with_credentials(credentials).with_endpoint(server.url).build()
        )


def body(op: str, path: str, value: Any = None) -> GlanceUpdateImageRequestBody:
    return GlanceUpdateImageRequestBody(op=op, path=path, value=value)


def create(server: Server, **fields: Any) -> dict[str, Any]:
    r = server.client("p1").post("/v2/images", json={"name": "img", **fields})
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


def test_glance_update_image(server: Server) -> None:
    image = create(server, team="blue", old="x")
    client = ims(server)
    response = client.glance_update_image(
        GlanceUpdateImageRequest(
            image_id=image["id"],
            body=[
                body("replace", "/name", "sdk-renamed"),
                body("add", "/__description", "set by the SDK"),
                body("replace", "/min_ram", "2048"),  # a string, as the model types it
                body("add", "/max_ram", "4096"),
                body("replace", "/team", "red"),
                body("remove", "/old"),
            ],
        )
    )
    assert response.status_code == 200
    assert response.name == "sdk-renamed"
    assert response.description == "set by the SDK"
    assert response.min_ram == 2048 and response.max_ram == "4096"
    assert response.id == image["id"] and response.owner == "p1"
    shown = httpx.get(f"{server.url}/v2/images/{image['id']}", headers={"X-Project-Id": "p1"})
    doc = shown.json()
    assert doc["team"] == "red" and "old" not in doc and doc["min_ram"] == 2048
    assert response.updated_at == doc["updated_at"]


def test_sdk_errors_carry_the_code_and_message(server: Server) -> None:
    image = create(server)
    client = ims(server)
    with pytest.raises(sdk_exceptions.ClientRequestException) as caught:
        client.glance_update_image(
            GlanceUpdateImageRequest(image_id=image["id"], body=[body("replace", "/__nope", "x")])
        )
    assert caught.value.status_code == 409
    assert caught.value.error_code == "IMG.0035"
    assert caught.value.error_msg == "Property __nope does not exist."
    with pytest.raises(sdk_exceptions.ClientRequestException) as caught:
        client.glance_update_image(
            GlanceUpdateImageRequest(image_id=image["id"], body=[body("replace", "/status", "x")])
        )
    assert (caught.value.status_code, caught.value.error_code) == (403, "IMG.0105")
    with pytest.raises(sdk_exceptions.ClientRequestException) as caught:
        ims(server, "p2").glance_update_image(
            GlanceUpdateImageRequest(image_id=image["id"], body=[body("replace", "/name", "x")])
        )
    assert caught.value.status_code == 404


# --- the IMS update API, PATCH /v2/cloudimages/{image_id}, with AK/SK --------------------------
def signed_ims(srv: AuthServer, who: str, secret_key: str | None = None) -> ImsClient:
    key = srv.keys[who]
    credentials = BasicCredentials(key.access_key, secret_key or key.secret_key, key.project_id)
    return ImsClient.new_builder().with_credentials(credentials).with_endpoint(srv.url).build()


def change(op: str, path: str, value: Any = None) -> UpdateImageRequestBody:
    return UpdateImageRequestBody(op=op, path=path, value=value)


def test_update_image(auth_server: AuthServer) -> None:
    target = private("tenant-a", name="before", team="blue", old="x")
    load(auth_server.server.database_url, [target])
    client = signed_ims(auth_server, "t1")
    response = client.update_image(
        UpdateImageRequest(
            image_id=target["id"],
            body=[
                change("replace", "/name", "sdk-renamed"),
                change("add", "/__description", "set by the SDK"),
                change("replace", "/min_ram", "2048"),
                change("add", "/max_ram", "4096"),
                change("add", "/hw_firmware_type", "uefi"),
                change("add", "/__support_kvm", "true"),
                change("replace", "/team", "red"),
                change("remove", "/old"),  # no value: the SDK leaves it out
            ],
        )
    )
    assert response.status_code == 200
    assert (response.id, response.owner, response.status) == (target["id"], "tenant-a", "active")
    assert response.name == "sdk-renamed" and response.description == "set by the SDK"
    assert response.min_ram == 2048 and response.max_ram == "4096"
    assert response.hw_firmware_type == "uefi" and response.support_kvm == "true"
    # the answer is the image as the query API lists it next
    listed = client.list_images(ListImagesRequest(id=target["id"])).images
    assert [i.to_dict() for i in listed] == [
        {k: v for k, v in response.to_dict().items() if k in listed[0].to_dict()}
    ]
    shown = auth_server.client("t1").get(f"/v2/images/{target['id']}").json()
    assert shown["team"] == "red" and "old" not in shown
    assert response.updated_at == shown["updated_at"] > target["updated_at"]


def test_update_image_refusals_reach_the_sdk(auth_server: AuthServer) -> None:
    mine = private("tenant-a", name="mine")
    theirs = shared("tenant-b", {"tenant-a": "accepted"}, name="theirs")
    load(auth_server.server.database_url, [mine, theirs])
    t1 = signed_ims(auth_server, "t1")
    body = GlanceCreateImageMetadataRequestBody(name="queued", disk_format="qcow2")
    queued = t1.glance_create_image_metadata(GlanceCreateImageMetadataRequest(body=body)).id
    rename = [change("replace", "/name", "x")]
    for client, image_id, ops, status, code, message in (
        (t1, mine["id"], [change("replace", "/protected", "true")], 400, "IMG.0105",
         "Attribute 'protected' cannot be updated by the IMS update API."),
        (t1, mine["id"], [change("replace", "/__support_xen", "true")], 400, "IMG.0035",
         "Property __support_xen does not exist."),
        (t1, mine["id"], [change("add", "/Team", "x")], 400, "IMG.0001",
         "Invalid value for 'Team': an extension attribute name may not contain upper-case "
         "letters"),
        (t1, mine["id"], [change("replace", "/name", "n" * 129)], 400, "IMG.0002",
         "The image name is longer than 128 characters."),
        (t1, queued, rename, 400, "IMG.0046",
         f"Image {queued} is queued: only active images can be updated."),
        (t1, theirs["id"], rename, 403, "IMG.0047",
         f"Only the owner of image {theirs['id']} may do this."),
        (signed_ims(auth_server, "t3"), mine["id"], rename, 404, "IMG.0027",
         f"No image found with ID {mine['id']}"),
        (signed_ims(auth_server, "t1", secret_key="0" * 40), mine["id"], rename, 401,
         "APIGW.0301", "Incorrect IAM authentication information."),
    ):  # fmt: skip
        with pytest.raises(sdk_exceptions.ClientRequestException) as caught:
            client.update_image(UpdateImageRequest(image_id=image_id, body=ops))
        assert (caught.value.status_code, caught.value.error_code) == (status, code)
        assert caught.value.error_msg == message
    shown = auth_server.client("admin").get(f"/v2/images/{mine['id']}").json()
    assert shown["name"] == "mine" and shown["updated_at"] == mine["updated_at"]
