"""Image data over HTTP on SQLite and PostgreSQL, on the file and S3 stores: `PUT` and
`GET /v2/images/{id}/file` as Glance 33 answers them (../shared/spec/glance-data-behaviour.md,
sections 1–3), and what the IMS face shows of an uploaded image.

Requests whose shape is all that matters go to the application in this process; what needs
the wire (chunked bodies, a missing Content-Type, bodies shorter than their Content-Length, an
upload seen while it runs) goes to an `openims serve` process. Both cap an image at `CAP`."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.servers import Server
from tests.support.uploads import (
    CAP,
    OCTET_STREAM,
    Digests,
    address,
    assert_error,
    assert_no_data,
    create,
    data_server_fixture,
    image,
    md5,
    put,
    raw_bytes,
    raw_put,
    upload,
    view,
)

KIB = 1024
MIB = 1024 * KIB
EMPTY_MD5 = md5(b"")
EMPTY_SHA512 = hashlib.sha512(b"").hexdigest()

server = data_server_fixture("server", in_process=True)
process_server = data_server_fixture("process_server")


def members(server: Server, image_id: str, **statuses: str) -> None:
    """Share p1's image with each project, which then sets its member status."""
    owner = server.client("p1")
    for project, status in statuses.items():
        r = owner.post(f"/v2/images/{image_id}/members", json={"member": project})
        assert r.status_code == 200, r.text
        if status != "pending":
            r = server.client(project).put(
                f"/v2/images/{image_id}/members/{project}", json={"status": status}
            )
            assert r.status_code == 200, r.text


def assert_untouched(client: httpx.Client, image_id: str, server: Server) -> None:
    """Still queued, no size or hash, and nothing of it in the store."""
    assert_no_data(image(client, image_id))
    assert view(server).traces(image_id) == []


# --- upload ----------------------------------------------------------------------------------
def test_an_upload_makes_the_image_active(server: Server, store: str) -> None:
    c = server.client("p1")
    doc = create(c)
    data = raw_bytes(1024)
    r = put(c, doc["id"], data)
    assert r.status_code == 204 and r.content == b""
    after = image(c, doc["id"])
    assert after["status"] == "active"
    assert Digests.of(data).recorded_in(after)
    assert after["virtual_size"] == 1024  # raw: its size
    assert after["stores"] == {"file": "fs", "s3": "s3"}[store]  # the store's id, as Glance
    assert after["owner"] == "p1"
    assert after["updated_at"] >= doc["updated_at"]
    assert after["__image_size"] == "1024"
    assert view(server).traces(doc["id"]) == [f"images/{doc['id']}"]
    assert view(server).temporaries() == []
    assert c.get(f"/v2/images/{doc['id']}/file").content == data


def test_the_ims_face_shows_an_uploaded_image_and_may_update_it(server: Server) -> None:
    c = server.client("p1")
    doc = create(c, name="before")
    change = [{"op": "replace", "path": "/name", "value": "after"}]
    r = c.patch(f"/v2/cloudimages/{doc['id']}", json=change)
    assert r.status_code == 400, r.text  # update_image: active images only
    data = raw_bytes(3000)
    upload(c, doc["id"], data)
    [listed] = c.get("/v2/cloudimages", params={"id": doc["id"]}).json()["images"]
    assert listed["status"] == "active"
    assert listed["size"] == 3000 and listed["__image_size"] == "3000"
    assert listed["checksum"] == md5(data)
    assert listed["virtual_size"] == 3000
    r = c.patch(f"/v2/cloudimages/{doc['id']}", json=change)
    assert r.status_code == 200, r.text
    patched = r.json()
    assert patched["name"] == "after"
    assert Digests.of(data).recorded_in(patched) and patched["status"] == "active"
    assert c.get(f"/v2/images/{doc['id']}/file").content == data  # its data untouched


@pytest.mark.parametrize("media_type", ["application/json", "text/plain", None])
def test_an_upload_of_another_media_type_is_refused(server: Server, media_type: str | None) -> None:
    c = server.client("p1")
    doc = create(c)
    headers = {} if media_type is None else {"Content-Type": media_type}
    r = c.put(f"/v2/images/{doc['id']}/file", content=b"x" * 100, headers=headers)
    message = assert_error(r, 415, "IMG.0001")
    assert (media_type or "(none)") in message
    assert_untouched(c, doc["id"], server)


def test_a_second_upload_is_a_conflict(server: Server) -> None:
    c = server.client("p1")
    doc = create(c)
    first = raw_bytes(500)
    upload(c, doc["id"], first)
    message = assert_error(put(c, doc["id"], b"other bytes"), 409, "IMG.0310")
    assert message == "Image status transition from active to saving is not allowed"
    assert Digests.of(first).recorded_in(image(c, doc["id"]))
    assert c.get(f"/v2/images/{doc['id']}/file").content == first


def test_who_may_upload(server: Server) -> None:
    owner = server.client("p1")
    shared = create(owner, visibility="shared")
    members(server, shared["id"], p2="accepted", p3="pending")
    public = create(server.admin(), visibility="public")
    private = create(owner)
    refused = "You are not authorized to complete upload_image action."
    for client, image_id in [
        (server.client("p2"), shared["id"]),  # an accepted member
        (server.client("p3"), shared["id"]),  # a pending one
        (server.client("p1", roles="reader"), private["id"]),  # the owner's reader
        (server.client("p2"), public["id"]),  # another tenant, of a public image
    ]:
        assert assert_error(put(client, image_id, b"data"), 403, "IMG.0026") == refused
    missing = "00000000-0000-4000-8000-000000000000"
    for image_id in (private["id"], missing):  # another tenant's private image, and no image
        r = put(server.client("p2"), image_id, b"data")
        assert assert_error(r, 404) == f"No image found with ID {image_id}"
    for image_id in (shared["id"], public["id"], private["id"]):
        assert_untouched(server.admin(), image_id, server)
    # an admin of another project may upload; the image stays its owner's
    upload(server.admin(), private["id"], b"admin's bytes")
    after = image(owner, private["id"])
    assert after["status"] == "active" and after["owner"] == "p1"


@pytest.mark.parametrize("missing", [("disk_format", "container_format"), ("disk_format",)])
def test_an_image_without_formats_takes_no_data(server: Server, missing: tuple[str]) -> None:
    """Formats default (zvhd2, bare) on create; only explicit nulls leave them unset."""
    c = server.client("p1")
    r = c.post("/v2/images", json={"name": "formats", **dict.fromkeys(missing)})
    assert r.status_code == 201, r.text
    image_id = r.json()["id"]
    message = assert_error(put(c, image_id, b"data"), 400, "IMG.0311")
    assert message == "Properties disk_format, container_format must be set prior to saving data."
    assert_untouched(c, image_id, server)


def test_an_empty_upload_makes_an_empty_active_image(server: Server) -> None:
    c = server.client("p1")
    doc = create(c)
    assert put(c, doc["id"], b"").status_code == 204
    after = image(c, doc["id"])
    assert after["status"] == "active"
    assert (after["size"], after["checksum"]) == (0, EMPTY_MD5)
    assert (after["os_hash_algo"], after["os_hash_value"]) == ("sha512", EMPTY_SHA512)
    assert after["virtual_size"] is None
    r = c.get(f"/v2/images/{doc['id']}/file")
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-length"] == "0"
    assert r.headers["content-md5"] == EMPTY_MD5
    r = c.get(f"/v2/images/{doc['id']}/file", headers={"Range": "bytes=0-9"})
    assert assert_error(r, 416).endswith("inclusive range [0, -1].")


def test_the_size_cap(server: Server) -> None:
    """Inclusive: `CAP` bytes fit, one more is a 413 and changes nothing. (Chunked bodies
    over the cap: `test_a_chunked_upload_over_the_cap_is_refused`.)"""
    c = server.client("p1")
    over = create(c)
    message = assert_error(put(c, over["id"], bytes(CAP + 1)), 413, "IMG.0312")
    assert str(CAP) in message
    assert_untouched(c, over["id"], server)
    exact = create(c)
    data = raw_bytes(CAP)
    upload(c, exact["id"], data)
    assert Digests.of(data).recorded_in(image(c, exact["id"]))


# --- upload over the wire --------------------------------------------------------------------
def chunks(data: bytes, size: int = 64 * KIB) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize("size", [100 * KIB, 5 * MIB + 123])
def test_a_chunked_upload(process_server: Server, size: int) -> None:
    c = process_server.client("p1")
    doc = create(c)
    data = raw_bytes(size)
    r = put(c, doc["id"], chunks(data))
    assert "content-length" not in r.request.headers
    assert r.status_code == 204, r.text
    after = image(c, doc["id"])
    assert after["status"] == "active" and Digests.of(data).recorded_in(after)
    assert after["virtual_size"] == size
    got = c.get(f"/v2/images/{doc['id']}/file")
    assert got.status_code == 200 and got.content == data


def test_a_chunked_upload_over_the_cap_is_refused(process_server: Server) -> None:
    c = process_server.client("p1")
    doc = create(c)
    r = put(c, doc["id"], chunks(bytes(CAP + 1), 256 * KIB))
    assert_error(r, 413, "IMG.0312")
    assert_untouched(c, doc["id"], process_server)
    assert view(process_server).temporaries() == []


def test_an_upload_without_a_content_type_is_refused(process_server: Server) -> None:
    c = process_server.client("p1")
    doc = create(c)
    status, body = raw_put(process_server, doc["id"], b"x" * 100, content_type=None)
    assert status == 415 and body is not None
    assert body["error"]["code"] == "IMG.0001" and "(none)" in body["error"]["message"]
    assert_untouched(c, doc["id"], process_server)


@pytest.mark.parametrize(
    ("sent", "claimed", "status"),
    [
        (1000, 100_000, 400),  # the client gave up: refused, nothing kept
        (1024, CAP + MIB, 413),  # a Content-Length over the cap is refused before reading
        (3 * MIB, 4 * MIB, 400),  # past a block, so the store had begun writing
    ],
)
def test_a_body_shorter_than_its_content_length(
    process_server: Server, sent: int, claimed: int, status: int
) -> None:
    c = process_server.client("p1")
    doc = create(c)
    got, body = raw_put(process_server, doc["id"], raw_bytes(sent), content_length=claimed)
    assert got == status and body is not None, body
    assert set(body["error"]) == {"message", "code", "title"}
    if status == 400:
        assert body["error"]["code"] == "IMG.0313"
        assert f"{sent} of the {claimed} bytes" in body["error"]["message"]
    assert_untouched(c, doc["id"], process_server)
    assert view(process_server).temporaries() == []


def test_a_large_body_is_read_into_blocks(process_server: Server) -> None:
    """A body of a MiB or more sent with its Content-Length is read by the kernel straight into
    the pipeline's blocks (`api.http.blocks.BodyBlocks`): stored exactly, in blocks and a tail,
    whether the client waits for `100 Continue` or not. The parser never sees such a body, and
    a new one takes the connection's next request: a keep-alive client goes on on the same
    connection, and a request sent right behind the body is answered."""
    c = process_server.client("p1")
    data = raw_bytes(5 * MIB + 12345)
    doc = create(c)
    r = put(c, doc["id"], data)
    assert r.status_code == 204 and "connection" not in r.headers, r.headers
    assert Digests.of(data).recorded_in(image(c, doc["id"]))
    assert c.get(f"/v2/images/{doc['id']}/file").content == data

    data = raw_bytes(4 * MIB + 1)
    doc = create(c)
    head = (
        f"PUT /v2/images/{doc['id']}/file HTTP/1.1\r\nHost: openims\r\nX-Project-Id: p1\r\n"
        f"Content-Type: {OCTET_STREAM}\r\nContent-Length: {len(data)}\r\n"
        "Expect: 100-continue\r\n\r\n"
    )
    behind = (
        f"GET /v2/images/{doc['id']} HTTP/1.1\r\nHost: openims\r\nX-Project-Id: p1\r\n"
        "Connection: close\r\n\r\n"
    )
    with socket.create_connection(address(process_server), timeout=30) as sock:
        sock.sendall(head.encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), answer
        sock.sendall(data + behind.encode())
        answer = answer.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n")
        while chunk := sock.recv(65536):
            answer += chunk
    first, _, second = answer.partition(b"HTTP/1.1 200 ")
    assert first.startswith(b"HTTP/1.1 204 ") and b'"status":"active"' in second, answer
    assert Digests.of(data).recorded_in(image(c, doc["id"]))
    assert c.get(f"/v2/images/{doc['id']}/file").content == data


def test_an_answer_before_a_large_body_ends_reaches_the_client(process_server: Server) -> None:
    """A refusal given while a large body still arrives (a second upload: 409) reaches the
    client whole, and the connection serves the client's next request: the rest of the body
    is read and dropped, then a new parser takes over. Nothing of the body is kept."""
    c = process_server.client("p1")
    doc = create(c)
    first = raw_bytes(1000)
    upload(c, doc["id"], first)
    for _ in range(3):
        assert_error(put(c, doc["id"], raw_bytes(5 * MIB)), 409, "IMG.0310")
    assert Digests.of(first).recorded_in(image(c, doc["id"]))
    assert c.get(f"/v2/images/{doc['id']}/file").content == first


def test_a_cut_chunked_stream(process_server: Server) -> None:
    """1000 bytes in one chunk, no last chunk, then the client half-closes."""
    c = process_server.client("p1")
    doc = create(c)
    head = (
        f"PUT /v2/images/{doc['id']}/file HTTP/1.1\r\nHost: openims\r\nX-Project-Id: p1\r\n"
        f"Content-Type: {OCTET_STREAM}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    with socket.create_connection(address(process_server), timeout=30) as sock:
        sock.sendall(head + b"3e8\r\n" + raw_bytes(1000) + b"\r\n")
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while part := sock.recv(65536):
            answer += part
    assert int(answer.split()[1]) == 400, answer
    assert_untouched(c, doc["id"], process_server)


def test_an_image_while_its_bytes_arrive(process_server: Server) -> None:
    """`saving` from the first byte to the last, without size or hash; meanwhile a second
    upload is a conflict and a download finds no data; then `active` in one step."""
    c = process_server.client("p1")
    doc = create(c)
    data = raw_bytes(32 * KIB)
    go_on = threading.Event()
    answers: list[httpx.Response] = []

    def slowly() -> Iterator[bytes]:
        yield data[: 16 * KIB]
        assert go_on.wait(30)
        yield data[16 * KIB :]

    def send() -> None:
        with process_server.connect({"X-Project-Id": "p1"}) as sender:
            answers.append(put(sender, doc["id"], slowly(), **{"Content-Length": str(len(data))}))

    thread = threading.Thread(target=send)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while (during := image(c, doc["id"]))["status"] == "queued":
            assert time.monotonic() < deadline, "the upload never began"
            time.sleep(0.05)
        assert during["status"] == "saving"
        for name in ("size", "checksum", "os_hash_value", "virtual_size"):
            assert during.get(name) is None, name
        message = assert_error(put(c, doc["id"], b"second"), 409, "IMG.0310")
        assert message == "Image status transition from saving to saving is not allowed"
        r = c.get(f"/v2/images/{doc['id']}/file")
        assert r.status_code == 204 and r.content == b""
        assert "content-type" not in r.headers
    finally:
        go_on.set()
        thread.join(30)
    assert [a.status_code for a in answers] == [204]
    after = image(c, doc["id"])
    assert after["status"] == "active" and Digests.of(data).recorded_in(after)


# --- download --------------------------------------------------------------------------------
@pytest.fixture
def uploaded(server: Server) -> tuple[str, bytes]:
    """A 1024-byte active image of p1."""
    c = server.client("p1")
    doc = create(c, visibility="shared")
    data = raw_bytes(1024)
    upload(c, doc["id"], data)
    return doc["id"], data


def test_a_download(server: Server, uploaded: tuple[str, bytes]) -> None:
    image_id, data = uploaded
    c = server.client("p1")
    for accept in (None, "application/json"):  # Accept is ignored
        r = c.get(f"/v2/images/{image_id}/file", headers={"Accept": accept} if accept else {})
        assert r.status_code == 200 and r.content == data
        assert r.headers["content-type"] == OCTET_STREAM
        assert r.headers["content-length"] == "1024"
        assert r.headers["content-md5"] == md5(data)  # hex, as Glance
        assert "content-range" not in r.headers


def test_a_blob_lost_or_cut_under_the_store_is_refused_not_served_short(
    server: Server, uploaded: tuple[str, bytes]
) -> None:
    """Bytes that are no longer those recorded (a file truncated or removed behind the
    server's back) are never served: a 503 in the error format before any byte, logged and
    counted, instead of a body shorter than its Content-Length."""
    root = view(server).root
    if root is None:
        pytest.skip("changed behind the server's back: a file store's file")
    image_id, data = uploaded
    c = server.client("p1")
    path = root / "images" / image_id
    counted = 'openims_image_data_errors_total{kind="size_mismatch"}'

    def mismatches() -> float:
        for line in c.get("/metrics").text.splitlines():
            if line.startswith(counted):
                return float(line.split()[-1])
        return 0.0

    before = mismatches()
    path.write_bytes(data[:100])
    assert_error(c.get(f"/v2/images/{image_id}/file"), 503, "IMG.0317")
    path.unlink()
    assert_error(c.get(f"/v2/images/{image_id}/file", headers={"Range": "bytes=0-9"}), 503)
    assert mismatches() == before + 2
    assert image(c, image_id)["status"] == "active"  # the record stands; the operator acts


RANGES = [  # header -> (first, last) of the 206
    ("bytes=0-9", (0, 9)),
    ("bytes=10-", (10, 1023)),
    ("bytes=-5", (1019, 1023)),
    ("bytes=1000-2000", (1000, 1023)),
    ("bytes=0-1023", (0, 1023)),
]
REFUSED_RANGES = [  # header -> (status, message's end)
    ("bytes=5-2", (416, "Invalid Range header.")),
    ("bytes=abc", (416, "Invalid Range header.")),
    ("items=0-5", (416, "Invalid Range header.")),
    ("bytes=999999999-", (416, "inclusive range [0, 1023].")),
    ("bytes=1024-", (416, "inclusive range [0, 1023].")),
    ("bytes=0-1,3-4", (400, "You may make multiple single-range requests instead.")),
]


def test_ranges(server: Server, uploaded: tuple[str, bytes]) -> None:
    image_id, data = uploaded
    c = server.client("p1")
    checksum = md5(data)
    for header, (first, last) in RANGES:
        r = c.get(f"/v2/images/{image_id}/file", headers={"Range": header})
        assert r.status_code == 206, (header, r.text)
        assert r.content == data[first : last + 1], header
        assert r.headers["content-range"] == f"bytes {first}-{last}/1024"
        assert r.headers["content-length"] == str(last - first + 1)
        assert r.headers["content-md5"] == checksum  # the whole image's
    for header, (status, end) in REFUSED_RANGES:
        r = c.get(f"/v2/images/{image_id}/file", headers={"Range": header})
        assert assert_error(r, status).endswith(end), header
        assert "content-range" not in r.headers


def test_an_image_without_data_answers_204(server: Server) -> None:
    c = server.client("p1")
    doc = create(c)
    r = c.get(f"/v2/images/{doc['id']}/file")
    assert r.status_code == 204 and r.content == b""
    assert "content-type" not in r.headers


def test_who_may_download(server: Server, uploaded: tuple[str, bytes]) -> None:
    image_id, data = uploaded
    owner = server.client("p1")
    members(server, image_id, p2="accepted", p3="pending", p4="rejected")
    private = create(owner)
    upload(owner, private["id"], b"private bytes")
    for project in ("p2", "p3", "p4"):  # member status only affects lists
        r = server.client(project).get(f"/v2/images/{image_id}/file")
        assert r.status_code == 200 and r.content == data, project
    r = server.admin().get(f"/v2/images/{private['id']}/file")
    assert r.status_code == 200 and r.content == b"private bytes"
    for project, target in (("p5", image_id), ("p2", private["id"])):  # a non-member; private
        r = server.client(project).get(f"/v2/images/{target}/file")
        assert assert_error(r, 404) == f"No image found with ID {target}"
    r = server.client("p1", roles="reader").get(f"/v2/images/{image_id}/file")
    assert assert_error(r, 403) == "You are not authorized to complete download_image action."


def test_head_is_not_allowed(server: Server, uploaded: tuple[str, bytes]) -> None:
    r = server.client("p1").head(f"/v2/images/{uploaded[0]}/file")
    assert r.status_code == 405


def test_deleting_an_image_removes_its_data(server: Server, uploaded: tuple[str, bytes]) -> None:
    image_id, _ = uploaded
    c = server.client("p1")
    assert view(server).traces(image_id) == [f"images/{image_id}"]
    assert c.delete(f"/v2/images/{image_id}").status_code == 204
    assert view(server).traces(image_id) == []
    assert_error(c.get(f"/v2/images/{image_id}/file"), 404)
    assert_error(put(c, image_id, b"again"), 404)


def test_no_temporaries_stay_behind(server: Server) -> None:
    """After every kind of upload above has ended, the store holds committed blobs only."""
    c = server.client("p1")
    for content in (b"ok", bytes(CAP + 1)):
        put(c, create(c)["id"], content)
    assert view(server).temporaries() == []
