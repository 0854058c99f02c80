"""A web server of the tests' own, on loopback, for web-download imports: it serves a few
fixed paths and records every request it receives, so a test can show that a refused URI was
never fetched.

Paths under `/allowed/` are what the servers under test allow (`Web.allowed`); `/private/`
is the same host outside the allow-list."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SMALL = bytes(range(256)) * 8  # 2 KiB of raw image
SMALL_MD5 = hashlib.md5(SMALL, usedforsecurity=False).hexdigest()
SMALL_SHA512 = hashlib.sha512(SMALL).hexdigest()
STALL_SIZE = 512 * 1024  # what /allowed/stall announces; it sends 64 KiB, then waits


@dataclass
class Web:
    """The running server: its port, the requests it has seen (path, User-Agent), and the
    event that lets `/allowed/stall` send the rest of its body."""

    port: int
    requests: list[tuple[str, str]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def allowed(self) -> str:
        return f"{self.base}/allowed/"

    def paths(self) -> list[str]:
        return [path for path, _agent in self.requests]


def _handler(web: Web) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: the test reads `web.requests`

        def _send(self, status: int, body: bytes = b"", **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            web.requests.append((self.path, self.headers.get("User-Agent", "")))
            path = self.path
            if path == "/allowed/redirect-in":
                self._send(302, Location="/allowed/small.raw")
            elif path == "/allowed/redirect-out":
                self._send(302, Location=f"{web.base}/private/small.raw")
            elif path == "/allowed/redirect-loop":
                self._send(302, Location="/allowed/redirect-loop")
            elif path == "/allowed/stall":
                self.send_response(200)
                self.send_header("Content-Length", str(STALL_SIZE))
                self.end_headers()
                self.wfile.write(b"\0" * 65536)
                self.wfile.flush()
                web.release.wait(60)
                # the importer may have gone away (the server under test was killed)
                with contextlib.suppress(OSError):
                    self.wfile.write(b"\0" * (STALL_SIZE - 65536))
            elif path in ("/allowed/small.raw", "/private/small.raw"):
                self._send(200, SMALL, Content_Type="application/octet-stream")
            elif path.startswith("/allowed/files/") and path[15:] in web.files:
                self._send(200, web.files[path[15:]])
            else:
                self._send(404, b"not here")

    return Handler


@contextmanager
def web_server(port: int = 0) -> Iterator[Web]:
    """The server on 127.0.0.1:`port` (0: any free port), in a thread, until the block ends."""
    httpd = ThreadingHTTPServer(("127.0.0.1", port), BaseHTTPRequestHandler)
    web = Web(httpd.server_address[1])
    httpd.RequestHandlerClass = _handler(web)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield web
    finally:
        web.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
