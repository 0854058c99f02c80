"""The official IMS SDK (`huaweicloudsdkims`), unchanged, against a real server process.

`ImsClient.list_images` builds `GET /v2/cloudimages` itself: it maps `ListImagesRequest`
fields to the documented parameter names (`imagetype` → `__imagetype`, ...), sends booleans
as `True`/`False`, signs the request with the AK/SK and sends the project as `X-Project-Id`
(which the no-auth server takes as the caller). Each call below is one filter combination;
the expected images are computed from the catalog the test loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkims.v2 import ImsClient, ListImagesRequest

from tests.support.catalogs import image, load, private, shared
from tests.support.servers import Server

pytestmark = pytest.mark.clients

EP = "5b4f3c2d-1e0a-4b9c-8d7e-6f5a4b3c2d1e"
PLATFORMS = [("Ubuntu", "Linux"), ("CentOS", "Linux"), ("Windows", "Windows"), ("EulerOS", "Linux")]


def ims(server: Server, project: str = "p1") -> ImsClient:
    return (
        ImsClient.new_builder()
        .with_credentials(BasicCredentials("ak-test", "sk-test", project))
        .with_endpoint(server.url)
        .build()
    )


def _catalog() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for n in range(16):
        platform, os_type = PLATFORMS[n % 4]
        fields: dict[str, Any] = {
            "name": f"{platform} {n:02d}",
            "__platform": platform,
            "__os_type": os_type,
            "__os_bit": "32" if n == 5 else "64",
            "protected": n % 5 != 0,
            "min_ram": 2048 if os_type == "Windows" else 0,
            "min_disk": 100 if n % 6 == 0 else 40,
            "disk_format": "qcow2" if n % 3 == 0 else "zvhd2",
            "tags": ["env=prod"] if n % 4 == 1 else ["env.prod"] if n == 2 else [],
        }
        if n % 7 == 3:
            fields["__support_arm"] = "true"
        if n % 2 == 0:
            fields["__support_kvm"] = "true"
        if n == 9:
            fields.update({"__support_kvm_gpu_type": "V100_vGPU"})
        if n == 10:
            fields.update({"virtual_env_type": "Ironic", "__support_s4l": "true"})
        if n == 11:
            fields["enterprise_project_id"] = EP
        docs.append(image(**fields))
    docs += [
        private("p1", name="p1 web", enterprise_project_id="0"),
        private("p1", name="p1 db", enterprise_project_id=EP),
        shared("p1", {"p2": "accepted"}, name="p1 shared out"),
        private("p2", name="p2 secret"),
        shared("p2", {"p1": "accepted"}, name="from p2 accepted"),
        shared("p2", {"p1": "rejected"}, name="from p2 rejected"),
        shared("p3", {"p1": "pending"}, name="from p3 pending"),
        image(name="withdrawn", __isregistered="false"),
    ]
    return docs


def newest_first(docs: list[dict[str, Any]]) -> list[str]:
    return [d["name"] for d in sorted(docs, key=lambda d: (d["created_at"], d["id"]), reverse=True)]


def test_list_images_through_the_sdk(server: Server) -> None:
    docs = _catalog()
    load(server.database_url, docs)
    client = ims(server)
    visible = [d for d in docs if d["__isregistered"] == "true"]
    gold = [d for d in visible if d["__imagetype"] == "gold"]

    def names(**fields: Any) -> list[str]:
        response = client.list_images(ListImagesRequest(**fields))
        return [i.name for i in response.images]

    def where(
        pred: Callable[[dict[str, Any]], bool], pool: list[dict[str, Any]] = gold
    ) -> list[str]:
        out = newest_first([d for d in pool if pred(d)])
        assert 0 < len(out) < len(pool), "a filter that keeps all or nothing proves little"
        return out

    # 1. the README example
    assert names(imagetype="gold", limit=5) == newest_first(gold)[:5]
    # 2-6. the five common query methods
    assert names(imagetype="gold", visibility="public", protected=True) == where(
        lambda d: d["protected"]
    )
    assert names(owner="p1") == ["p1 shared out", "p1 db", "p1 web"]
    for status, name in (
        ("accepted", "from p2 accepted"),
        ("rejected", "from p2 rejected"),
        ("pending", "from p3 pending"),
    ):
        assert names(member_status=status, visibility="shared", imagetype="shared") == [name]
    # 7. OS attributes
    assert names(platform="Ubuntu", os_type="Linux", os_bit="64") == where(
        lambda d: d["__platform"] == "Ubuntu"
    )
    assert names(os_bit="32") == ["CentOS 05"]
    # 8. feature flags and architecture
    assert names(support_kvm="true", architecture="arm") == where(
        lambda d: d.get("__support_kvm") == "true" and d.get("__support_arm") == "true"
    )
    assert names(architecture="x86", imagetype="gold") == where(lambda d: "__support_arm" not in d)
    gpu = where(lambda d: d.get("__support_kvm_gpu_type") == "V100_vGPU")
    assert names(support_kvm_gpu_type="V100_vGPU") == gpu and len(gpu) == 1
    # 9. the flavor filter: KVM, x86, at most 4 GiB of min_ram, ECS images
    assert names(flavor_id="s6.large.2") == where(
        lambda d: (
            d.get("__support_kvm") == "true"
            and "__support_arm" not in d
            and d["virtual_env_type"] == "FusionCompute"
        )
    )
    # 10. times, in both documented formats
    middle = gold[8]["created_at"]
    assert names(created_at=f"gt:{middle}", imagetype="gold") == where(
        lambda d: d["created_at"] > middle
    )
    assert names(updated_at=f"lte:{middle.replace('T', ' ').rstrip('Z')}", imagetype="gold") == (
        where(lambda d: d["updated_at"] <= middle)
    )
    # 11. tags, including the legacy key.value form
    assert names(tag="env=prod") == where(
        lambda d: "env=prod" in d.get("tags", []) or "env.prod" in d.get("tags", [])
    )
    # 12. sizes and formats
    assert names(min_disk=100, disk_format="qcow2", container_format="bare") == where(
        lambda d: d["min_disk"] == 100 and d["disk_format"] == "qcow2"
    )
    assert names(min_ram=2048) == where(lambda d: d["min_ram"] == 2048)
    # 13. enterprise projects
    assert names(enterprise_project_id=EP) == where(
        lambda d: d.get("enterprise_project_id") == EP, visible
    )
    assert len(names(enterprise_project_id=EP)) == 2
    assert "p1 web" in names(enterprise_project_id="0")
    assert "p1 db" not in names(enterprise_project_id="0")
    assert len(names(enterprise_project_id="all_granted_eps")) == len(names())
    # 14. environment, registration, status and name
    assert names(virtual_env_type="Ironic") == where(lambda d: d["virtual_env_type"] == "Ironic")
    assert names(isregistered="true", status="active", name="EulerOS 03") == ["EulerOS 03"]
    assert "withdrawn" not in names()


def test_paging_with_marker_to_the_end(server: Server) -> None:
    docs = _catalog()
    load(server.database_url, docs)
    client = ims(server)
    expected = sorted(
        d["name"] for d in docs if d["__imagetype"] == "gold" and d["__isregistered"] == "true"
    )
    seen: list[str] = []
    marker = None
    pages = 0
    while True:
        request = ListImagesRequest(imagetype="gold", sort_key="name", sort_dir="asc", limit=3)
        if marker is not None:
            request.marker = marker
        images = client.list_images(request).images
        pages += 1
        seen += [i.name for i in images]
        if len(images) < 3:
            break
        marker = images[-1].id
    assert seen == expected
    assert pages == len(expected) // 3 + 1


def test_sdk_sees_the_ims_errors(server: Server) -> None:
    client = ims(server)
    for request, code in (
        (ListImagesRequest(flavor_id="no.such.flavor"), "IMG.0192"),
        (ListImagesRequest(limit=5000), "IMG.0001"),
        (ListImagesRequest(architecture="sparc"), "IMG.0212"),
        (ListImagesRequest(imagetype="public"), "IMG.0024"),
        (ListImagesRequest(member_status="accepted"), "IMG.0001"),
        (ListImagesRequest(marker="00000000-0000-0000-0000-000000000000"), "IMG.0027"),
    ):
        with pytest.raises(ClientRequestException) as caught:
            client.list_images(request)
        assert caught.value.status_code == 400
        assert caught.value.error_code == code, caught.value.error_msg
        assert caught.value.error_msg
        assert caught.value.request_id.startswith("req-")
