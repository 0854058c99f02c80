"""The official IMS SDK (`huaweicloudsdkims`), unchanged, patching images on a real server.

`ImsClient.glance_update_image` sends `application/openstack-images-v2.1-json-patch` with the
list of `GlanceUpdateImageRequestBody` objects serialised as JSON (attributes left `None` are
dropped, so a `remove` carries no `value`). The body model declares `value` a string, so SDK
users send integers as `"2048"`. The no-auth server takes the project from the `X-Project-Id`
header the SDK sends with `BasicCredentials`."""

from __future__ import annotations

import warnings
from typing import Any

import httpx
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions import exceptions as sdk_exceptions
from huaweicloudsdkims.v2 import (
    GlanceUpdateImageRequest,
    GlanceUpdateImageRequestBody,
    ImsClient,
)

from tests.conftest import Server

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
