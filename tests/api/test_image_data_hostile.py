"""Hostile uploads, on SQLite and PostgreSQL, on the file and S3 stores: disk images that would
make a hypervisor read files of the host (a qcow2 with a backing file or an external data
file, a VMDK descriptor naming other files), bytes that are not the declared format, too many
bytes, too few. Each is refused in the API's error format, the image stays `queued` without a
trace of the upload, and the store holds nothing new: no file, no temporary. (Glance 33
refuses the first kinds with a 415 but keeps the file and the hashes: spec section 1.)

The images are made by `qemu-img` (Debian's qemu-utils) in the test's own directory."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.servers import Server
from tests.support.uploads import (
    CAP,
    QEMU_IMG,
    Digests,
    assert_error,
    assert_no_data,
    create,
    data_server_fixture,
    image,
    put,
    qcow2,
    qemu_img,
    raw_put,
    upload,
    view,
)

pytestmark = pytest.mark.skipif(not Path(QEMU_IMG).exists(), reason="qemu-img is not installed")

server = data_server_fixture("server", in_process=True)
process_server = data_server_fixture("process_server")


def backing_file(tmp: Path) -> bytes:
    return qcow2(tmp / "backed.qcow2", "1M", "-F", "raw", "-b", "/etc/passwd")


def external_data_file(tmp: Path) -> bytes:
    return qcow2(tmp / "external.qcow2", "1M", "-o", f"data_file={tmp / 'data.raw'}")


def vmdk_descriptor(subformat: str, *, names: str | None = None) -> Callable[[Path], bytes]:
    """A VMDK descriptor (a text file) of `subformat`; with `names`, its extent line points at
    that file instead of the one qemu-img made beside it."""

    def make(tmp: Path) -> bytes:
        path = tmp / "disk.vmdk"
        qemu_img("create", "-f", "vmdk", "-o", f"subformat={subformat}", str(path), "1M")
        text = path.read_text()
        if names is not None:
            lines = text.splitlines()
            lines = [
                f'RW 2048 FLAT "{names}" 0' if line.startswith("RW ") else line for line in lines
            ]
            text = "\n".join(lines) + "\n"
        assert "DescriptorFile" in text
        return text.encode()

    return make


def random_bytes(n: int) -> Callable[[Path], bytes]:
    return lambda _tmp: os.urandom(n)


def broken_partition_table(_tmp: Path) -> bytes:
    """A disk whose MBR signature is there but whose first partition entry has no valid
    boot flag: what one upload in 65,536 of random bytes looks like to the inspector (the
    match is the signature alone). Declared raw, it is still refused: content the inspector
    recognises must pass that format's checks."""
    sector = bytearray(4096)
    sector[446] = 0x42
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


# (disk_format, maker, the error code)
UNSAFE = "IMG.0315"
MISMATCH = "IMG.0314"
HOSTILE = {
    "qcow2-backing-file": ("qcow2", backing_file, UNSAFE),
    "qcow2-backing-file-declared-raw": ("raw", backing_file, UNSAFE),
    "qcow2-external-data-file": ("qcow2", external_data_file, UNSAFE),
    "qcow2-external-data-file-declared-raw": ("raw", external_data_file, UNSAFE),
    "vmdk-monolithic-flat": ("vmdk", vmdk_descriptor("monolithicFlat"), None),
    "vmdk-naming-etc-shadow": (
        "vmdk",
        vmdk_descriptor("monolithicFlat", names="/etc/shadow"),
        None,
    ),
    "vmdk-split-sparse": ("vmdk", vmdk_descriptor("twoGbMaxExtentSparse"), None),
    "random-64k-as-qcow2": ("qcow2", random_bytes(64 * 1024), MISMATCH),
    "random-1k-as-qcow2": ("qcow2", random_bytes(1024), MISMATCH),
    "random-as-vmdk": ("vmdk", random_bytes(4096), MISMATCH),
    "raw-with-a-broken-partition-table": ("raw", broken_partition_table, UNSAFE),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_upload_is_refused_and_nothing_kept(
    server: Server, tmp_path: Path, case: str
) -> None:
    disk_format, make, code = HOSTILE[case]
    data = make(tmp_path)
    c = server.client("p1")
    doc = create(c, disk_format=disk_format)
    before = view(server).files()
    r = put(c, doc["id"], data)
    message = assert_error(r, 400, code)
    assert message.startswith(("Image failed safety checks", "Image disk_format")), message
    assert_no_data(image(c, doc["id"]))
    assert set(view(server).files()) <= set(before)  # nothing new (sweeps may drop old orphans)
    # the image is as it was: a good upload goes in afterwards (Glance's leftover file makes
    # this a 500 there)
    good = qcow2(tmp_path / "good.qcow2", "1M") if disk_format == "qcow2" else b"\0" * 512
    if disk_format != "vmdk":
        upload(c, doc["id"], good)
        assert Digests.of(good).recorded_in(image(c, doc["id"]))


@pytest.mark.parametrize(
    "case", ["qcow2-backing-file", "qcow2-external-data-file", "random-64k-as-qcow2"]
)
def test_a_hostile_upload_read_into_blocks_is_refused(
    process_server: Server, tmp_path: Path, case: str
) -> None:
    """The same refusals for a body large enough for the server to read it straight into the
    pipeline's blocks (`api.http.blocks.BodyBlocks`, over a MiB): the inspector then sees views
    of reused buffers, not bytes objects. Zeros after a qcow2 header leave it a qcow2."""
    disk_format, make, code = HOSTILE[case]
    data = make(tmp_path)
    data += b"\0" * (3 * 1024 * 1024 - len(data))
    c = process_server.client("p1")
    doc = create(c, disk_format=disk_format)
    before = view(process_server).files()
    message = assert_error(put(c, doc["id"], data), 400, code)
    assert message.startswith(("Image failed safety checks", "Image disk_format")), message
    assert_no_data(image(c, doc["id"]))
    assert set(view(process_server).files()) <= set(before)


def test_safe_qcow2_is_accepted_with_its_virtual_size(server: Server, tmp_path: Path) -> None:
    """The positive control: qemu-img's plain qcow2 declared qcow2 (virtual size 1 MiB), and
    declared raw (stored as raw bytes: its virtual size is its size)."""
    data = qcow2(tmp_path / "plain.qcow2", "1M")
    c = server.client("p1")
    for disk_format, virtual_size in (("qcow2", 1024 * 1024), ("raw", len(data))):
        doc = create(c, disk_format=disk_format)
        upload(c, doc["id"], data)
        after = image(c, doc["id"])
        assert after["status"] == "active" and after["virtual_size"] == virtual_size
        assert c.get(f"/v2/images/{doc['id']}/file").content == data


def test_an_upload_over_the_cap_leaves_nothing(server: Server) -> None:
    c = server.client("p1")
    doc = create(c)
    before = view(server).files()
    chunked = iter([b"\0" * (CAP // 2), b"\0" * (CAP // 2), b"\0"])
    for content in (b"\0" * (CAP + 1), chunked):
        assert_error(put(c, doc["id"], content), 413, "IMG.0312")
        assert_no_data(image(c, doc["id"]))
        assert set(view(server).files()) <= set(before)  # nothing new (sweeps may drop old orphans)


def test_a_short_body_leaves_nothing(process_server: Server) -> None:
    c = process_server.client("p1")
    doc = create(c)
    before = view(process_server).files()
    status, body = raw_put(process_server, doc["id"], b"\0" * 4096, content_length=1024 * 1024)
    assert status == 400 and body is not None
    assert set(body["error"]) == {"message", "code", "title"}
    assert body["error"]["code"] == "IMG.0313"
    assert_no_data(image(c, doc["id"]))
    assert set(view(process_server).files()) <= set(
        before
    )  # nothing new (sweeps may drop old orphans)
