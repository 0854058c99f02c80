"""Slow clients do not block others: a client that trickles its body, one that trickles its
headers and a crowd of idle connections are all held while other requests are answered, and
each is cut off after its timeout (408 in the API's error format, or a quiet close). Clients
that do not read their answers hold no database connection meanwhile, and get every byte
once they read."""

from __future__ import annotations

import socket
import threading

import orjson
import pytest

from tests.support.fixtures import server_fixture
from tests.support.servers import Server

pytestmark = pytest.mark.slow

TIMEOUTS = {
    "OPENIMS_POOL_SIZE": "2",  # and as many overflow connections: 4 in all
    "OPENIMS_BODY_TIMEOUT": "3",
    "OPENIMS_HEADER_TIMEOUT": "3",
    "OPENIMS_KEEP_ALIVE_TIMEOUT": "1",
}


# a server with short timeouts on an empty database of the backend under test
slow_server = server_fixture("slow_server", env=TIMEOUTS)


def connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def read_all(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def answer(data: bytes) -> tuple[int, dict[str, str]]:
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), orjson.loads(body)["error"]


class Trickle:
    """Sends one byte at a time, one for each step of the test, until told to stop."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sent = 0

    def step(self) -> None:
        try:
            self.sock.sendall(b"a")
            self.sent += 1
        except OSError:
            pass  # the server has given up on us, as it should in the end


def others_succeed(server: Server, steps: int, trickle: Trickle | None = None) -> None:
    """Requests of another client, each answered while the slow one is still incomplete."""
    c = server.client("p-fast")
    for i in range(steps):
        if trickle is not None:
            trickle.step()
        created = c.post("/v2/images", json={"name": f"fast-{i}"})
        assert created.status_code == 201, created.text
        assert c.get(f"/v2/images/{created.json()['id']}").status_code == 200


def test_a_trickling_body_does_not_block_others(slow_server: Server) -> None:
    sock = connect(slow_server)
    sock.sendall(
        b"POST /v2/images HTTP/1.1\r\nHost: x\r\nX-Project-Id: p-slow\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        b'{"name": "'
    )
    trickle = Trickle(sock)
    others_succeed(slow_server, 10, trickle)
    assert trickle.sent < 1000  # the slow body was never complete
    status, error = answer(read_all(sock))
    assert status == 408
    assert error["code"] == "APIGW.0201"
    assert error["message"] == "The request body did not arrive within 3 seconds."
    sock.close()
    slow = slow_server.client("p-slow")
    assert slow.get("/v2/images").json()["images"] == []  # nothing was written


def test_trickling_headers_do_not_block_others(slow_server: Server) -> None:
    sock = connect(slow_server)
    sock.sendall(b"GET /v2/images HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    trickle = Trickle(sock)
    others_succeed(slow_server, 10, trickle)
    status, error = answer(read_all(sock))
    assert status == 408
    assert error["message"] == "The request headers did not arrive within 3 seconds."
    sock.close()


def test_idle_connections_do_not_block_others_and_are_closed(slow_server: Server) -> None:
    idle = [connect(slow_server) for _ in range(100)]
    # a keep-alive connection that made one request and then waits
    kept = connect(slow_server)
    kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    reply = b""
    while not reply.endswith(b'"database":"ok"}'):
        reply += kept.recv(65536)
    assert reply.startswith(b"HTTP/1.1 200")
    others_succeed(slow_server, 10)
    results: list[bytes] = []

    def drain(sock: socket.socket) -> None:
        results.append(read_all(sock))

    threads = [threading.Thread(target=drain, args=(s,)) for s in [*idle, kept]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # the server closed every one of them, quietly: they had asked nothing
    assert results == [b""] * 101
    for sock in [*idle, kept]:
        sock.close()


# --- slow readers -------------------------------------------------------------------------------
SLOW_READERS = 6  # more than the server's 4 database connections
BIG_IMAGES = 24  # x 256 kB: a 6 MB page, more than the kernel buffers of a connection hold


def _http_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def test_slow_readers_hold_no_database_connection_and_block_no_one(slow_server: Server) -> None:
    """Clients that ask for a large page and then do not read it. The server renders each
    answer whole and hands it to the network, so the request is done and its database
    connection free while the bytes wait for the reader: other clients are answered at once
    (more slow readers than database connections), and each slow reader gets every byte once
    it reads. What a slow reader holds meanwhile is its answer's bytes in memory."""
    from tests.api.test_observability import scrape, value

    c = slow_server.client("p-slow")
    huge = "\U0001f600" * 65535  # 256 kB of UTF-8 in one property value
    for i in range(BIG_IMAGES):
        assert c.post("/v2/images", json={"name": f"big-{i}", "blob": huge}).status_code == 201
    page = "/v2/images?limit=1000"

    readers: list[tuple[socket.socket, bytes, bytes]] = []
    host, port = slow_server.url.removeprefix("http://").split(":")
    for _ in range(SLOW_READERS):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window
        sock.settimeout(30)
        sock.connect((host, int(port)))
        sock.sendall(f"GET {page} HTTP/1.1\r\nHost: x\r\nX-Project-Id: p-slow\r\n\r\n".encode())
        head, start = _http_head(sock)  # the answer has begun: its query is done
        assert head.startswith(b"HTTP/1.1 200"), head
        readers.append((sock, head, start))

    others_succeed(slow_server, 10)  # with every slow reader still unread
    during = scrape(slow_server.url)
    assert value(during, "openims_db_pool_checked_out") == 0

    for sock, head, start in readers:
        length = int(
            next(
                line.split(b":", 1)[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
        )
        body = start
        while len(body) < length:
            chunk = sock.recv(1 << 20)
            assert chunk
            body += chunk
        images = orjson.loads(body)["images"]
        assert len(images) == BIG_IMAGES and all(i["blob"] == huge for i in images)
        sock.close()
