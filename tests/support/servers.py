"""Servers tests talk to, and `start_server`: the one way tests and benchmarks run `openims serve`.

`Server` is what a test sees: the API at `url` on the database at `database_url`, and HTTP
clients acting as a project (no-auth mode trusts `X-Project-Id` and `X-Roles`). Two kinds
implement it: `ServerProcess`, a real `openims serve` process reached over a socket (started
here), and `InProcessServer` (`tests.support.in_process`), the application in this process.
`AuthServer` is a server with authentication on and the secrets it accepts."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, overload

import httpx

from openims.auth.credentials import Credential, Token, add_credential, add_token

# One TLS context for every test client: building one per client (loading the CA bundle)
# costs 50 ms, more than most requests.
TLS = ssl.create_default_context()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """The API at `url` on `database_url`. Clients made here are closed by `close_clients`
    (the server fixtures call it after each test)."""

    url: str
    database_url: str
    clients: list[httpx.Client] = field(default_factory=list, kw_only=True)

    def connect(
        self, headers: Mapping[str, str] | None = None, timeout: float = 30
    ) -> httpx.Client:
        """An HTTP client of this server sending `headers` with every request."""
        raise NotImplementedError

    def open(self, headers: Mapping[str, str] | None = None, timeout: float = 30) -> httpx.Client:
        """`connect`, and close the client with the others."""
        c = self.connect(headers, timeout)
        self.clients.append(c)
        return c

    def client(
        self, project: str = "demo", roles: str | None = None, **headers: str
    ) -> httpx.Client:
        """An HTTP client acting as `project` (no-auth mode trusts these headers)."""
        sent = {"X-Project-Id": project, **headers}
        if roles:
            sent["X-Roles"] = roles
        return self.open(sent)

    def admin(self) -> httpx.Client:
        return self.client("admin-project", roles="admin")

    def close_clients(self) -> None:
        for c in self.clients:
            c.close()
        self.clients.clear()

    def stop(self) -> None:
        self.close_clients()


@dataclass
class ServerProcess(Server):
    """A running `openims serve` process (or another server `launch` started)."""

    process: subprocess.Popen[bytes]
    log: Path

    def connect(
        self, headers: Mapping[str, str] | None = None, timeout: float = 30
    ) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout, verify=TLS)

    def stop(self, timeout: float = 10) -> None:
        super().stop()
        stop_process(self.process, timeout)


class StartFailed(RuntimeError):
    pass


# Test servers let a project own IMS's most images (1000) rather than its default 20: many tests
# create more than 20 images as one project. Tests of the quota name their own limits.
TEST_QUOTAS = {"OPENIMS_IMAGE_QUOTA": "1000"}


def image_store_for(database_url: str, directory: Path) -> str:
    """A server's image store unless a test names one: a directory of its own for each
    database, so servers of one database (a restart, replicas) share their images and servers
    of different databases never sweep each other's."""
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:12]
    return f"file://{directory / ('images-' + digest)}"


def obs_for(database_url: str) -> Path:
    """The IMS object storage (`OPENIMS_OBS`) of every test server on `database_url`, in-process
    or not: one directory of buckets, as replicas share one object storage. A job is run by
    whichever server of the database claims it, so a bucket a test makes must be seen by all of
    them. Database URLs are unique to a session, and `ServerPool.stop` removes the directory."""
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"openims-obs-{digest}"


def launch(
    argv: Sequence[str],
    *,
    port: int,
    log: Path,
    env: Mapping[str, str] | None = None,
    ready: Callable[[httpx.Response], bool] = lambda r: r.status_code == 200,
    timeout: float = 60,
    own_session: bool = False,
) -> subprocess.Popen[bytes]:
    """Run `argv` (a server that listens on 127.0.0.1:`port`), its output in `log`, and
    wait until its `/healthz` answer is `ready`. With `own_session` it and its children form
    a process group of their own, which `stop_process` ends as a whole."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=own_session,
        )
    url = f"http://127.0.0.1:{port}/healthz"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartFailed(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if ready(httpx.get(url, timeout=1)):
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_process(proc)
    raise StartFailed(f"server did not start:\n{log.read_text()}")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not ended within `timeout` seconds; the whole process
    group when the process leads one of its own."""
    if proc.poll() is not None:
        return
    group = os.getpgid(proc.pid) == proc.pid

    def signal_it(sig: int) -> None:
        try:
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        except ProcessLookupError:
            pass

    signal_it(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        signal_it(signal.SIGKILL)
        proc.wait(timeout)


# --- authentication ------------------------------------------------------------------------
# A server with authentication on reads a credentials file (mode 600) holding an AK/SK pair and
# a static token for each principal below.

PRINCIPALS = {  # name -> (project, roles)
    "t1": ("tenant-a", ()),
    "t2": ("tenant-b", ()),
    "t3": ("tenant-c", ()),
    "admin": ("admin-project", ("admin",)),
    "reader": ("tenant-a", ("reader",)),
}


def write_credentials(path: Path) -> tuple[dict[str, Credential], dict[str, Token]]:
    """A fresh credentials file with a key and a token for every principal."""
    keys, tokens = {}, {}
    for who, (project, roles) in PRINCIPALS.items():
        keys[who] = add_credential(path, project, frozenset(roles))
        tokens[who] = add_token(path, project, frozenset(roles))
    return keys, tokens


@dataclass
class AuthServer:
    """A running server with authentication on, and the secrets it accepts."""

    server: Server
    credentials_file: Path
    keys: dict[str, Credential]  # principal -> its AK/SK pair
    tokens: dict[str, Token]  # principal -> its static token

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def log(self) -> Path:
        assert isinstance(self.server, ServerProcess), "only a server process writes a log"
        return self.server.log

    def project(self, who: str) -> str:
        return PRINCIPALS[who][0]

    def client(self, who: str | None = None, **headers: str) -> httpx.Client:
        """An HTTP client sending `who`'s static token (no credentials when None)."""
        sent = dict(headers)
        if who is not None:
            sent["X-Auth-Token"] = self.tokens[who].token
        return self.server.open(sent)

    def close_clients(self) -> None:
        self.server.close_clients()

    def stop(self) -> None:
        self.server.stop()


# --- starting `openims serve` --------------------------------------------------------------


@overload
def start_server(
    database_url: str,
    directory: Path,
    *,
    auth: Literal[False],
    workers: int = ...,
    env: Mapping[str, str] | None = ...,
    port: int | None = ...,
    timeout: float = ...,
    own_session: bool = ...,
) -> ServerProcess: ...


@overload
def start_server(
    database_url: str,
    directory: Path,
    *,
    auth: Literal[True],
    credentials: Path | None = ...,
    workers: int = ...,
    env: Mapping[str, str] | None = ...,
    port: int | None = ...,
    timeout: float = ...,
    own_session: bool = ...,
) -> AuthServer: ...


@overload
def start_server(
    database_url: str,
    directory: Path,
    *,
    auth: bool,
    workers: int = ...,
    env: Mapping[str, str] | None = ...,
    port: int | None = ...,
    timeout: float = ...,
    own_session: bool = ...,
) -> ServerProcess | AuthServer: ...


def start_server(
    database_url: str,
    directory: Path,
    *,
    auth: bool,
    credentials: Path | None = None,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    timeout: float = 60,
    own_session: bool = False,
) -> ServerProcess | AuthServer:
    """Start `openims serve` on `database_url` and wait until /healthz answers; its log is
    `directory/server-PORT.log`, and `env` (OPENIMS_* settings) goes to it.

    Without `auth` it runs with `--no-auth` and a `ServerProcess` is returned. With `auth` it
    reads `credentials`, or a fresh file in `directory` with the secrets of every principal in
    PRINCIPALS, which the returned `AuthServer` holds (none for a file given here)."""
    args = ["--no-auth"]
    keys: dict[str, Credential] = {}
    tokens: dict[str, Token] = {}
    if auth:
        if credentials is None:
            credentials = directory / "credentials.toml"
            keys, tokens = write_credentials(credentials)
        args = ["--credentials", str(credentials)]
    if workers != 1:
        args += ["--workers", str(workers)]
    server_env = {
        "OPENIMS_LOG_LEVEL": "warning",
        "OPENIMS_IMAGE_STORE": image_store_for(database_url, directory),
        "OPENIMS_OBS": str(obs_for(database_url)),  # never ./data/obs
        **TEST_QUOTAS,
        **(env or {}),
    }
    for attempt in range(3):
        chosen = port or free_port()
        log = directory / f"server-{chosen}.log"
        argv = [
            *(sys.executable, "-m", "openims", "serve"),
            *("--host", "127.0.0.1", "--port", str(chosen), "--database", database_url),
            *args,
        ]
        try:
            proc = launch(
                argv, port=chosen, log=log, env=server_env, timeout=timeout, own_session=own_session
            )
        except StartFailed:
            # another test session (an xdist worker) may have taken the free port meanwhile
            if port is None and attempt < 2 and "address already in use" in log.read_text():
                continue
            raise
        server = ServerProcess(f"http://127.0.0.1:{chosen}", database_url, proc, log)
        if auth:
            assert credentials is not None
            return AuthServer(server, credentials, keys, tokens)
        return server
    raise AssertionError("unreachable")
