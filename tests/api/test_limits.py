"""Request limits over real HTTP: body size, query string length, header size, `limit`. Each is
refused with a clear 4xx in the API's error format, and changes nothing."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import orjson
import pytest

from openims.config import Settings
from tests.support.catalogs import load
from tests.support.servers import Server, free_port

DEFAULTS = Settings()


def assert_error(r: httpx.Response, status: int, code: str, *, ims: bool = False) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    err = r.json()["error"]
    assert set(err) == ({"message", "code"} if ims else {"message", "code", "title"})
    assert err["code"] == code
    return str(err["message"])


def raw_request(url: str, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send bytes as they are (httpx would refuse some of these requests) and read the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        # the server may answer and stop reading before it has read everything
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def half_closed_request(url: str, head: bytes, body: bytes) -> tuple[int, bytes]:
    """Send a request, end our side of the connection (as a client that has nothing more to
    send does), and read the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data, "the connection closed without an answer"
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def test_a_half_closed_client_gets_its_answer(server: Server) -> None:
    """A body shorter than its Content-Length is refused (never acted upon), and a complete
    one answered, though the client ended its side of the connection."""
    body = b'{"name": "complete"}'
    for claimed, status in ((len(body) + 100, 400), (len(body), 201)):
        head = (
            f"POST /v2/images HTTP/1.1\r\nHost: x\r\nX-Project-Id: p-limits\r\n"
            f"Content-Type: application/json\r\nContent-Length: {claimed}\r\n\r\n"
        ).encode()
        got, answer = half_closed_request(server.url, head, body)
        assert got == status, answer
        if status == 400:
            assert orjson.loads(answer)["error"]["code"] == "IMG.0313"
    names = [i["name"] for i in server.client("p-limits").get("/v2/images").json()["images"]]
    assert names == ["complete"]


# --- body size ------------------------------------------------------------------------------
def test_a_declared_oversized_body_is_refused(server: Server) -> None:
    c = server.client("p-limits")
    big = orjson.dumps({"name": "big", "note": "x" * DEFAULTS.max_body_bytes})
    r = c.post("/v2/images", content=big, headers={"Content-Type": "application/json"})
    message = assert_error(r, 413, "APIGW.0201")
    assert str(DEFAULTS.max_body_bytes) in message
    assert c.get("/v2/images").json()["images"] == []


def test_a_chunked_oversized_body_is_refused(server: Server) -> None:
    """Without Content-Length the body is counted as it arrives."""
    c = server.client("p-limits")

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "big", "note": "'
        for _ in range(DEFAULTS.max_body_bytes // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    r = c.post("/v2/images", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in r.request.headers
    assert_error(r, 413, "APIGW.0201")
    assert c.get("/v2/images").json()["images"] == []


def test_a_body_at_the_limit_is_accepted(server: Server) -> None:
    c = server.client("p-limits")
    body = orjson.dumps({"name": "fits"})
    body += b" " * (DEFAULTS.max_body_bytes - len(body))
    r = c.post("/v2/images", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text


# --- query string, path and headers ------------------------------------------------------------
@pytest.mark.parametrize("path", ["/v2/images", "/v2/cloudimages"])
def test_an_overlong_query_string_is_refused(server: Server, path: str) -> None:
    c = server.client("p-limits")
    # filter values are at most 1024 characters: fill the query string with several
    fits = [("tag", "x" * 1000)] * 8
    fits.append(("tag", "y" * (DEFAULTS.max_query_bytes - len(urlencode(fits)) - len("&tag="))))
    assert len(urlencode(fits)) == DEFAULTS.max_query_bytes
    assert c.get(path, params=tuple(fits)).status_code == 200
    r = c.get(path, params=[*fits[:-1], ("tag", fits[-1][1] + "y")])
    message = assert_error(r, 414, "APIGW.0201", ims=path == "/v2/cloudimages")
    assert f"query string is longer than {DEFAULTS.max_query_bytes} bytes" in message


def test_an_overlong_query_string_is_refused_before_it_is_read(server: Server) -> None:
    """Far beyond the limit (and beyond what the HTTP parser itself could parse)."""
    status, body = raw_request(
        server.url, b"GET /v2/images?" + b"a=b&" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert status == 414
    assert orjson.loads(body)["error"]["code"] == "APIGW.0201"


def test_an_overlong_path_is_refused(server: Server) -> None:
    r = server.client().get("/v2/images/" + "a" * 5000)
    assert_error(r, 414, "APIGW.0201")


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Big": "a" * (DEFAULTS.max_header_bytes + 1)},
        {f"X-H{i}": "v" * 100 for i in range(DEFAULTS.max_header_bytes // 100)},
    ],
    ids=["one-large-header", "many-headers"],
)
def test_oversized_headers_are_refused(server: Server, headers: dict[str, str]) -> None:
    c = server.client("p-limits")
    r = c.post("/v2/images", json={"name": "h"}, headers=headers)
    message = assert_error(r, 431, "APIGW.0201")
    assert str(DEFAULTS.max_header_bytes) in message
    assert c.get("/v2/images").json()["images"] == []
    # headers just under the limit pass
    assert c.get("/v2/images", headers={"X-Big": "a" * 16_000}).status_code == 200


def test_a_huge_header_is_refused_without_buffering_it(server: Server) -> None:
    """One 20 MB header: refused once the limit is passed, long before the header ends."""
    head = b"GET /v2/images HTTP/1.1\r\nHost: x\r\nX-Huge: " + b"a" * 20_000_000 + b"\r\n\r\n"
    status, body = raw_request(server.url, head)
    assert status == 431
    assert orjson.loads(body)["error"]["code"] == "APIGW.0201"
    assert server.client().get("/healthz").status_code == 200


def test_an_unreadable_request_is_answered_in_the_error_format(server: Server) -> None:
    status, body = raw_request(server.url, b"NOT HTTP AT ALL\r\n\r\n")
    assert status == 400
    assert orjson.loads(body)["error"] == {
        "message": "Invalid HTTP request received.",
        "code": "APIGW.0201",
        "title": "Bad Request",
    }


# --- limit --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "limit", "message"),
    [
        ("/v2/cloudimages", "1001", "limit param must be at most 1000"),
        ("/v2/cloudimages", "-1", "limit param must be positive"),
        ("/v2/cloudimages", "ten", "limit param must be an integer"),
        ("/v2/cloudimages", "99999999999999999999", "limit param must be an integer"),
        ("/v2/images", "-5", "limit param must be positive"),
        ("/v2/images", "1e3", "limit param must be an integer"),
    ],
)
def test_bad_limits_are_refused(server: Server, path: str, limit: str, message: str) -> None:
    r = server.client().get(path, params={"limit": limit})
    assert assert_error(r, 400, "IMG.0001", ims=path == "/v2/cloudimages") == message


def test_glance_caps_a_large_limit_at_1000(server: Server) -> None:
    docs = [
        {"id": str(uuid.uuid4()), "name": f"n{i}", "owner": "p-many", "visibility": "private"}
        for i in range(1001)
    ]
    load(server.database_url, docs)
    c = server.client("p-many")
    body = c.get("/v2/images", params={"limit": 5000}).json()
    assert len(body["images"]) == 1000 and "next" in body
    assert len(c.get(body["next"]).json()["images"]) == 1
    assert len(c.get("/v2/cloudimages", params={"limit": 1000}).json()["images"]) == 1000


# --- the same limits under a plain ASGI server ---------------------------------------------------
@pytest.fixture
def plain_uvicorn(db_url: str, tmp_path: Path) -> Iterator[str]:
    """The application under uvicorn's own protocol, as an operator might run it: the request
    middleware must keep the head limits there too."""
    port = free_port()
    env = {
        "OPENIMS_DATABASE_URL": db_url,
        "OPENIMS_NO_AUTH": "true",
        "OPENIMS_LOG_LEVEL": "warning",
        "PATH": "/usr/bin:/bin",
    }
    with (tmp_path / "uvicorn.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "--factory", "openims.api.app:factory"),
                *("--port", str(port), "--http", "httptools"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "uvicorn.log").read_text()
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_head_limits_hold_under_plain_uvicorn(plain_uvicorn: str) -> None:
    r = httpx.get(f"{plain_uvicorn}/v2/cloudimages", params={"name": "x" * 9000})
    assert_error(r, 414, "APIGW.0201", ims=True)
    r = httpx.get(f"{plain_uvicorn}/v2/images", headers={"X-Big": "a" * 40_000})
    assert_error(r, 431, "APIGW.0201")
    assert httpx.get(f"{plain_uvicorn}/v2/images").status_code == 200
