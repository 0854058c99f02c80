"""The creating calls read as plans (`domain/creation.py`): the documented example bodies give
the attributes IMS derives, and every bad request is refused with IMS's code before anything
is written."""

from __future__ import annotations

from typing import Any

import pytest

from openims import errors
from openims.domain import creation

EXAMPLE = {  # the IMS reference's example: an image from a file in an OBS bucket
    "name": "ims_test_file",
    "description": "Create an image from a file in an OBS bucket",
    "image_url": "ims-image:centos70.qcow2",
    "os_version": "CentOS 7.0 64bit",
    "min_disk": 40,
    "tags": ["aaa.111", "bbb.333", "ccc.444"],
}


def test_create_image_from_a_file() -> None:
    plan = creation.create_image(EXAMPLE)
    assert plan.job_type == "imsImportImageJob"
    assert (plan.source.bucket, plan.source.key) == ("ims-image", "centos70.qcow2")
    assert plan.disk_format == "qcow2"
    f = plan.fields
    assert f["name"] == "ims_test_file"
    assert f["__description"] == EXAMPLE["description"]
    assert f["tags"] == ["aaa=111", "bbb=333", "ccc=444"]
    assert (f["__os_version"], f["__platform"], f["__os_type"], f["__os_bit"]) == (
        "CentOS 7.0 64bit",
        "CentOS",
        "Linux",
        "64",
    )
    assert f["virtual_env_type"] == "FusionCompute"
    assert f["__support_kvm"] == "true"
    assert f["hw_firmware_type"] == "bios"
    assert f["min_disk"] == 40 and f["min_ram"] == 0
    assert f["__data_origin"] == "file,ims-image:centos70.qcow2"
    assert f["__root_origin"] == "file"
    assert f["__imagetype"] == "private" and f["enterprise_project_id"] == "0"


def test_create_image_variants() -> None:
    arm = creation.create_image(
        {**EXAMPLE, "architecture": "arm", "image_tags": None, "max_ram": 4096, "min_ram": 1024}
    ).fields
    assert arm["__support_arm"] == "true" and "__support_kvm" not in arm
    assert arm["hw_firmware_type"] == "uefi"
    assert (arm["min_ram"], arm["max_ram"]) == (1024, "4096")
    bms = creation.create_image({**EXAMPLE, "type": "BMS"}).fields
    assert bms["virtual_env_type"] == "Ironic" and "__support_kvm" not in bms
    iso = creation.create_image({**EXAMPLE, "type": "IsoImage", "image_url": "b-1:x/y.ISO"})
    assert iso.disk_format == "iso" and iso.fields["virtual_env_type"] == "IsoImage"
    no_os = creation.create_image({k: v for k, v in EXAMPLE.items() if k != "os_version"})
    assert no_os.fields["__os_version"] == "Other Linux(64 bit)"
    tagged = creation.create_image(
        {**EXAMPLE, "tags": None, "image_tags": [{"key": "k", "value": "v"}]}
    )
    assert tagged.fields["tags"] == ["k=v"]
    quick = creation.create_image({**EXAMPLE, "is_quick_import": True, "image_url": "bkt:d.raw"})
    assert quick.disk_format == "raw"


def test_data_image_and_quick_import() -> None:
    data = creation.create_data_image(
        {"name": "d1", "image_url": "bkt:disk.vhd", "min_disk": 100, "os_type": "Windows"}
    )
    assert data.job_type == "imsImportDataImageJob" and data.disk_format == "vhd"
    assert data.fields["virtual_env_type"] == "DataImage"
    assert data.fields["__os_type"] == "Windows" and "__os_version" not in data.fields
    quick = creation.import_image_quick(
        {
            "name": "q",
            "image_url": "bkt:disk.zvhd2",
            "min_disk": 1,
            "os_version": "Ubuntu 18.04 server 64bit",
        }
    )
    assert quick.job_type == "imsImportImageJob" and quick.disk_format == "zvhd2"
    quick_data = creation.import_image_quick(
        {"name": "q", "image_url": "bkt:disk.raw", "min_disk": 1, "type": "DataImage"}
    )
    assert quick_data.job_type == "imsImportDataImageJob"


def test_register_reads_the_url() -> None:
    assert str(creation.register_image({"image_url": "bkt:a/b.qcow2"})) == "bkt:a/b.qcow2"


REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("create", [], "IMG.0001"),  # type: ignore[list-item]
    ("create", {**EXAMPLE, "name": None}, "IMG.0013"),
    ("create", {**EXAMPLE, "name": " x"}, "IMG.0003"),
    ("create", {**EXAMPLE, "instance_id": "877a2cda-ba63-4e1e-b95f-e67e48b6129a"}, "IMG.0005"),
    ("create", {"name": "x", "volume_id": "v"}, "IMG.0120"),
    ("create", {"data_images": [{"name": "d", "volume_id": "v"}]}, "IMG.0120"),
    ("create", {"name": "x"}, "IMG.0001"),
    ("create", {**EXAMPLE, "image_url": "ims-image:../../etc/passwd"}, "IMG.0017"),
    ("create", {**EXAMPLE, "image_url": "Bad_Bucket:x.qcow2"}, "IMG.0109"),
    ("create", {**EXAMPLE, "image_url": ":x.qcow2"}, "IMG.0068"),
    ("create", {**EXAMPLE, "image_url": "bucket:x.exe"}, "IMG.0057"),
    ("create", {**EXAMPLE, "image_url": "bucket:x.iso"}, "IMG.0057"),  # an ISO needs IsoImage
    ("create", {**EXAMPLE, "is_quick_import": True}, "IMG.0057"),  # qcow2 is not quick
    ("create", {**EXAMPLE, "os_version": "Windows 95"}, "IMG.0056"),
    ("create", {**EXAMPLE, "min_disk": 39}, "IMG.0055"),
    ("create", {**EXAMPLE, "min_disk": None}, "IMG.0055"),
    ("create", {**EXAMPLE, "min_disk": "40"}, "IMG.0055"),
    ("create", {**EXAMPLE, "min_ram": 2048, "max_ram": 1024}, "IMG.0055"),
    ("create", {**EXAMPLE, "type": "VM"}, "IMG.0024"),
    ("create", {**EXAMPLE, "architecture": "mips"}, "IMG.0212"),
    ("create", {**EXAMPLE, "hw_firmware_type": "coreboot"}, "IMG.0141"),
    ("create", {**EXAMPLE, "cmk_id": "a-key"}, "IMG.0095"),
    ("create", {**EXAMPLE, "type": "BMS", "cmk_id": "a-key"}, "IMG.0118"),
    ("create", {**EXAMPLE, "image_tags": [{"key": "k", "value": "v"}]}, "IMG.0115"),
    ("create", {**EXAMPLE, "tags": [f"k{i}.v" for i in range(11)]}, "IMG.0116"),
    ("create", {**EXAMPLE, "tags": ["k.1", "k.2"]}, "IMG.0115"),
    ("create", {**EXAMPLE, "description": "a<b"}, "IMG.0054"),
    ("create", {**EXAMPLE, "enterprise_project_id": "nope"}, "IMG.0001"),
    ("create", {**EXAMPLE, "is_config": "yes"}, "IMG.0001"),
    ("data", {"name": "d", "min_disk": 40}, "IMG.0017"),
    ("data", {"name": "d", "image_url": "b-1:d.vhd", "min_disk": 2049}, "IMG.0055"),
    (
        "data",
        {"name": "d", "image_url": "b-1:d.vhd", "min_disk": 40, "os_type": "BeOS"},
        "IMG.0122",
    ),
    ("quick", {"name": "q", "image_url": "b-1:d.raw", "min_disk": 1}, "IMG.0056"),
    (
        "quick",
        {"name": "q", "image_url": "b-1:d.vhd", "min_disk": 1, "type": "DataImage"},
        "IMG.0057",
    ),
    ("quick", {"name": "q", "image_url": "b-1:d.raw", "type": "Docker"}, "IMG.0024"),
    (
        "quick",
        {
            "name": "q",
            "image_url": "b-1:d.raw",
            "min_disk": 1,
            "type": "DataImage",
            "architecture": "mips",
        },
        "IMG.0212",
    ),
    (
        "quick",
        {
            "name": "q",
            "image_url": "b-1:d.raw",
            "min_disk": 1,
            "os_version": "CentOS 7.0 64bit",
            "os_type": "BeOS",
        },
        "IMG.0122",
    ),
    ("register", {}, "IMG.0017"),
    ("register", {"image_url": "b-1:/etc/passwd"}, "IMG.0017"),
    ("whole", {"name": "w", "instance_id": "i-1"}, "IMG.0005"),
    ("whole", {"name": "w", "backup_id": "b-1"}, "IMG.0020"),
    ("whole", {"name": "w", "backup_id": "b-1", "whole_image_type": "CBR"}, "IMG.0198"),
    ("whole", {"name": "w"}, "IMG.0012"),
]
CALLS = {
    "create": creation.create_image,
    "data": creation.create_data_image,
    "quick": creation.import_image_quick,
    "register": creation.register_image,
    "whole": creation.create_whole_image,
}


@pytest.mark.parametrize(("call", "body", "code"), REFUSED)
def test_refused(call: str, body: dict[str, Any], code: str) -> None:
    with pytest.raises(errors.ApiError) as caught:
        CALLS[call](body)
    assert caught.value.code == code
    assert caught.value.status == 400
