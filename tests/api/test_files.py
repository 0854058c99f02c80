"""File-range responses (`openims.api.http.files`) under `openims serve`'s protocol, where the
bytes go by sendfile(2), and in-process, where they are streamed in chunks: the same bytes
either way, keep-alive after them, a client leaving mid-body costs nothing but its connection,
and a file that shrinks under a download cuts the connection instead of ending it quietly."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from openims.api.http.files import CHUNK_BYTES, FileShorter, FileSlice
from tests.support import file_app
from tests.support.servers import free_port, launch, stop_process

MIB = 1024 * 1024
ROOT = Path(__file__).parents[2]


class Served:
    """The file application at `url`, and its log."""

    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log
        host, port = url.removeprefix("http://").split(":")
        self.address = (host, int(port))

    def records(self) -> list[dict[str, object]]:
        out = []
        for line in self.log.read_text().splitlines():
            with contextlib.suppress(orjson.JSONDecodeError):
                out.append(orjson.loads(line))
        return out


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    port = free_port()
    log = tmp_path_factory.mktemp("files") / "server.log"
    argv = [
        *(sys.executable, "-m", "uvicorn", "tests.support.file_app:factory", "--factory"),
        *("--http", "openims.api.http.protocol:BoundedHttpProtocol"),
        *("--host", "127.0.0.1", "--port", str(port), "--no-access-log"),
    ]
    env = {"PYTHONPATH": str(ROOT), "OPENIMS_LOG_LEVEL": "info"}
    proc = launch(argv, port=port, log=log, env=env)
    try:
        yield Served(f"http://127.0.0.1:{port}", log)
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("data")
    out = {}
    for name, size in {"empty": 0, "one": 1, "small": 1000, "large": 5 * MIB + 123}.items():
        path = directory / name
        path.write_bytes(os.urandom(size))
        out[name] = path
    return out


Fetch = Callable[..., httpx.Response]


def in_process_get(params: dict[str, Any]) -> httpx.Response:
    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=file_app.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://files.test") as c:
            return await c.get("/file", params=params)

    return asyncio.run(get())


@pytest.fixture(params=["server", "in-process"])
def fetch(request: pytest.FixtureRequest) -> Iterator[Fetch]:
    """GET /file with these parameters, from the server (zero-copy) or in-process (streamed)."""
    if request.param == "in-process":
        yield lambda **params: in_process_get(params)
        return
    served: Served = request.getfixturevalue("served")
    with httpx.Client(base_url=served.url, timeout=30) as client:
        yield lambda **params: client.get("/file", params=params)


@pytest.mark.parametrize("name", ["empty", "one", "small", "large"])
def test_whole_files_are_sent_byte_for_byte(
    fetch: Fetch, files: dict[str, Path], name: str, request: pytest.FixtureRequest
) -> None:
    r = fetch(path=files[name])
    assert r.status_code == 200
    assert r.content == files[name].read_bytes()
    assert r.headers["content-length"] == str(files[name].stat().st_size)
    assert r.headers["content-type"] == "application/octet-stream"
    assert "x-request-id" in r.headers  # the middleware saw the response
    server = "server" in request.node.callspec.id
    assert r.headers["x-zerocopy"] == ("yes" if server else "no")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 10),
        (10, None),
        (5 * MIB + 122, None),  # the last byte
        (CHUNK_BYTES - 5, 2 * CHUNK_BYTES + 7),  # across the fallback's chunks
        (123, 123),  # nothing at all
    ],
)
def test_ranges_are_the_bytes_asked_for(
    fetch: Fetch, files: dict[str, Path], start: int, end: int | None
) -> None:
    data = files["large"].read_bytes()
    params: dict[str, Any] = {"path": files["large"], "start": start, "status": 206}
    if end is not None:
        params["end"] = end
    r = fetch(**params)
    assert r.status_code == 206
    assert r.content == data[start:end]
    assert r.headers["content-length"] == str(len(data[start:end]))


def test_a_file_already_short_is_a_500_before_any_byte(
    fetch: Fetch, files: dict[str, Path]
) -> None:
    r = fetch(path=files["small"], end=2000)
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "IMG.0500"


def test_a_file_shrinking_in_process_raises(files: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "shrinks"
    path.write_bytes(files["large"].read_bytes())
    with pytest.raises(FileShorter) as raised:
        in_process_get({"path": path, "truncate_to": 1000})
    assert raised.value.position == 1000
    assert raised.value.end == 5 * MIB + 123


# --- over a socket, with sendfile(2) ---------------------------------------------------------
def request(path: Path, **params: Any) -> bytes:
    query = "&".join(f"{k}={v}" for k, v in {"path": path, **params}.items())
    return f"GET /file?{query} HTTP/1.1\r\nHost: files.test\r\n\r\n".encode()


def read_response(sock: socket.socket, buffered: bytearray) -> tuple[bytes, bytes]:
    """One response (head, body) from `sock`, whatever follows it left in `buffered`."""
    while b"\r\n\r\n" not in buffered:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before a head"
        buffered += chunk
    head, _, rest = bytes(buffered).partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    body = bytearray(rest)
    while len(body) < length:
        chunk = sock.recv(MIB)
        assert chunk, f"connection closed after {len(body)} of {length} bytes"
        body += chunk
    buffered[:] = body[length:]
    return head, bytes(body[:length])


def connect(served: Served) -> socket.socket:
    return socket.create_connection(served.address, timeout=30)


def test_keep_alive_serves_the_next_requests_on_the_same_connection(
    served: Served, files: dict[str, Path]
) -> None:
    large = files["large"].read_bytes()
    with connect(served) as sock:
        buffered = bytearray()
        for start, end in [(0, None), (7, 70), (0, None)]:
            sock.sendall(request(files["large"], start=start, **({"end": end} if end else {})))
            head, body = read_response(sock, buffered)
            assert head.startswith(b"HTTP/1.1 200")
            assert body == large[start:end]


def test_pipelined_answers_wait_for_the_reader(served: Served, files: dict[str, Path]) -> None:
    """Two large answers asked for at once and read late: the second head must wait for the
    first body and the socket's room (the flush before sendfile), not overtake or mix in."""
    large = files["large"].read_bytes()
    with connect(served) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(request(files["large"]) + request(files["large"], start=3))
        time.sleep(0.5)  # the server fills the socket and waits
        buffered = bytearray()
        assert read_response(sock, buffered)[1] == large
        time.sleep(0.2)
        assert read_response(sock, buffered)[1] == large[3:]


def test_a_slow_reader_gets_every_byte(served: Served, files: dict[str, Path]) -> None:
    large = files["large"].read_bytes()
    with connect(served) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        sock.sendall(request(files["large"]))
        got = bytearray()
        while b"\r\n\r\n" not in got:
            got += sock.recv(4096)
        body = bytearray(got.partition(b"\r\n\r\n")[2])
        for i in range(100):  # the first 100 reads slowly, then the rest at once
            body += sock.recv(8192)
            if i % 10 == 0:
                time.sleep(0.01)
        while len(body) < len(large):
            body += sock.recv(MIB)
        assert bytes(body) == large


def wait_for(predicate: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_client_leaving_mid_body_is_closed_quietly(
    served: Served, files: dict[str, Path], tmp_path: Path
) -> None:
    path = tmp_path / "big"
    with path.open("wb") as f:
        f.truncate(256 * MIB)  # sparse: 256 MiB that no socket buffer holds
    seen = len(served.records())
    with connect(served) as sock:
        sock.sendall(request(path))
        sock.recv(65536)
    # the request ends (its access-log line is written) and nothing is reported as an error
    wait_for(lambda: any(r.get("logger") == "openims.access" for r in served.records()[seen:]))
    new = served.records()[seen:]
    access = [r for r in new if r.get("logger") == "openims.access"]
    assert access[0]["status"] == 200
    assert not [r for r in new if r.get("level") in ("error", "critical")], new
    assert not [r for r in new if "exception" in r], new
    # and the server goes on serving
    with httpx.Client(base_url=served.url) as client:
        assert (
            client.get("/file", params={"path": str(files["small"])}).content
            == files["small"].read_bytes()
        )


def test_a_file_shrinking_mid_body_cuts_the_connection(
    served: Served, files: dict[str, Path], tmp_path: Path
) -> None:
    path = tmp_path / "shrinks"
    path.write_bytes(files["large"].read_bytes())
    seen = len(served.records())
    with connect(served) as sock:
        sock.sendall(request(path, truncate_to=1000) + request(files["small"]))
        data = bytearray()
        while chunk := sock.recv(MIB):
            data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    assert f"content-length: {5 * MIB + 123}".encode() in head
    assert len(body) == 1000  # what there was, then the end: no second answer on it
    wait_for(lambda: any(r.get("logger") == "openims.access" for r in served.records()[seen:]))
    errors = [r for r in served.records()[seen:] if r.get("level") == "error"]
    assert any("download cut short" in str(r["message"]) for r in errors), errors


def test_a_file_slice_response_reports_a_shrinking_file(
    files: dict[str, Path], tmp_path: Path
) -> None:
    """`FileSlice`, as a route returns it: the bytes asked for, and a file that shrinks while
    it is sent is handed to `on_short` before the failure propagates."""
    path = tmp_path / "slice"
    path.write_bytes(files["large"].read_bytes())
    short: list[FileShorter] = []
    response = FileSlice(path, start=3, end=CHUNK_BYTES * 3, on_short=short.append)
    response.headers["Content-MD5"] = "x"

    async def get(truncate: bool) -> httpx.Response:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            async def send_then_truncate(message: Any) -> None:
                await send(message)
                if message["type"] == "http.response.start" and truncate:
                    os.truncate(path, 10)

            await response(scope, receive, send_then_truncate)

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://files.test") as c:
            return await c.get("/")

    r = asyncio.run(get(False))
    assert r.content == files["large"].read_bytes()[3 : CHUNK_BYTES * 3]
    assert r.headers["content-md5"] == "x"
    assert r.headers["content-length"] == str(CHUNK_BYTES * 3 - 3)
    assert r.headers["content-type"] == "application/octet-stream"
    with pytest.raises(FileShorter):
        asyncio.run(get(True))
    assert [exc.position for exc in short] == [10]
