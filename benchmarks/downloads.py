"""The download benchmark: one 1 GiB file from the page cache, fetched with curl over loopback,
through OpenIMS's file response against the limit of the same machine measured in the same run.

    .venv/bin/python -m benchmarks.run --downloads
    .venv/bin/python -m benchmarks.run --downloads --repeat 5 --size-mib 1024

Servers, each on its own port, serving the same file:

- **openims**: `openims.api.http.files.send_file` behind the request-context middleware, under
  uvicorn with `openims serve`'s protocol (`BoundedHttpProtocol`): the zero-copy path;
- **fallback**: the same application under stock uvicorn (httptools), which offers no zero-copy
  extension: the streamed path in-process tests and other servers take;
- **starlette**: Starlette's stock `FileResponse` under stock uvicorn, the obvious
  implementation;
- **limit**: a few lines of Python around one blocking `socket.sendfile` per request (a thread
  per connection, no HTTP framework): what the kernel gives one copy loop on this machine. nginx
  with sendfile is measured too when it is installed.

Each is fetched `--repeat` times one request at a time, then four at once (the aggregate rate);
the report gives the best and median MB/s, the ratio of each median to the limit's, and the
server's CPU seconds per GB and its peak RSS growth over its idle RSS. Writes
`benchmarks/results/downloads.md` and `downloads.json`. Figures on these shared machines move
from run to run; the ratios, measured side by side, move much less.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import socketserver
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tests.support.servers import free_port, launch, stop_process

ROOT = Path(__file__).parents[1]
PARALLEL = 4


@dataclass
class Measured:
    server: str
    single_mb_s: list[float] = field(default_factory=list)
    parallel_mb_s: list[float] = field(default_factory=list)
    cpu_s_per_gb: float = 0.0
    rss_growth_mb: float = 0.0

    @property
    def single(self) -> float:
        return statistics.median(self.single_mb_s)

    @property
    def parallel(self) -> float:
        return statistics.median(self.parallel_mb_s)


# --- the servers ---------------------------------------------------------------------------
def serve_plain(port: int, path: str) -> None:
    """The limit: read a request head, answer with the whole file by one blocking sendfile."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock: socket.socket = self.request
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                head += chunk
            if head.startswith(b"GET /healthz"):
                sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                return
            size = os.path.getsize(path)
            sock.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n" % size
            )
            with open(path, "rb") as file:
                sock.sendfile(file)

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    with socketserver.ThreadingTCPServer(("127.0.0.1", port), Handler) as server:
        server.daemon_threads = True
        server.serve_forever()


def starlette_app() -> Any:
    """Starlette's FileResponse for every path but /healthz (factory for uvicorn)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, PlainTextResponse, Response
    from starlette.routing import Route

    path = os.environ["OPENIMS_BENCH_FILE"]

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def file(request: Request) -> Response:
        return FileResponse(path, media_type="application/octet-stream")

    return Starlette(routes=[Route("/healthz", healthz), Route("/file", file)])


def nginx_config(directory: Path, port: int, path: Path) -> Path:
    conf = directory / "nginx.conf"
    conf.write_text(
        f"""daemon off; worker_processes 1; pid {directory}/nginx.pid;
error_log {directory}/nginx-error.log;
events {{ worker_connections 64; }}
http {{
  access_log off; sendfile on; tcp_nopush on;
  client_body_temp_path {directory}; proxy_temp_path {directory};
  fastcgi_temp_path {directory}; uwsgi_temp_path {directory}; scgi_temp_path {directory};
  server {{
    listen 127.0.0.1:{port};
    location = /healthz {{ return 200 ok; }}
    location = /file {{ alias {path}; default_type application/octet-stream; }}
  }}
}}
"""
    )
    return conf


@contextmanager
def server(kind: str, path: Path, work: Path) -> Iterator[tuple[str, int]]:
    """Start the server `kind` serving `path`; yields (URL of the file, server pid)."""
    port = free_port()
    py = sys.executable
    uvicorn = [py, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port)]
    uvicorn += ["--no-access-log", "--log-level", "warning"]
    url = f"http://127.0.0.1:{port}/file"
    env = {"PYTHONPATH": str(ROOT), "OPENIMS_BENCH_FILE": str(path), "OPENIMS_LOG_LEVEL": "warning"}
    if kind == "openims":
        argv = [*uvicorn, "--http", "openims.api.http.protocol:BoundedHttpProtocol"]
        argv += ["--factory", "tests.support.file_app:factory"]
        url += f"?path={path}"
    elif kind == "fallback":
        argv = [*uvicorn, "--http", "httptools", "--factory", "tests.support.file_app:factory"]
        url += f"?path={path}"
    elif kind == "starlette":
        argv = [*uvicorn, "--http", "httptools", "--factory", "benchmarks.downloads:starlette_app"]
    elif kind == "limit":
        argv = [py, "-m", "benchmarks.downloads", "--plain-server", str(port), str(path)]
    elif kind == "nginx":
        nginx = shutil.which("nginx")
        assert nginx
        argv = [nginx, "-c", str(nginx_config(work, port, path)), "-p", str(work)]
    else:
        raise ValueError(kind)
    proc = launch(argv, port=port, log=work / f"{kind}-{port}.log", env=env, own_session=True)
    try:
        yield url, proc.pid
    finally:
        stop_process(proc)


# --- measuring -------------------------------------------------------------------------------
def curl(url: str, size: int) -> float:
    """One download with curl into /dev/null; its rate in bytes/s."""
    fmt = "%{speed_download} %{size_download} %{http_code}"
    done = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", fmt, url],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    speed, got, status = done.stdout.split()
    assert status == "200" and int(got) == size, done.stdout
    return float(speed)


def parallel(url: str, size: int, n: int) -> float:
    """`n` downloads at once; their aggregate rate in bytes/s (all bytes over the wall time)."""
    errors: list[BaseException] = []

    def one() -> None:
        try:
            curl(url, size)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(n)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    return n * size / seconds


def cpu_seconds(pid: int) -> float:
    """User and system CPU of `pid` and its live descendants (uvicorn serves in its own
    process, nginx in a worker child)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for p in [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def descendants(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if ppid == pid:
            out += [int(p.name), *descendants(int(p.name))]
    return out


def memory_kb(pid: int, key: str) -> int:
    total = 0
    for p in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total


def measure(kind: str, path: Path, size: int, repeat: int, work: Path) -> Measured:
    m = Measured(kind)
    with server(kind, path, work) as (url, pid):
        curl(url, size)  # warm-up: imports, first-connection costs
        idle_kb = memory_kb(pid, "VmRSS")
        cpu_before = cpu_seconds(pid)
        for _ in range(repeat):
            m.single_mb_s.append(round(curl(url, size) / 1e6, 1))
        for _ in range(repeat):
            m.parallel_mb_s.append(round(parallel(url, size, PARALLEL) / 1e6, 1))
        moved_gb = repeat * (1 + PARALLEL) * size / 1e9
        m.cpu_s_per_gb = round((cpu_seconds(pid) - cpu_before) / moved_gb, 3)
        m.rss_growth_mb = round(max(0, memory_kb(pid, "VmHWM") - idle_kb) / 1024, 1)
    print(
        f"[downloads] {kind}: one {m.single:,.0f} MB/s (best {max(m.single_mb_s):,.0f}), "
        f"{PARALLEL} at once {m.parallel:,.0f} MB/s, {m.cpu_s_per_gb} CPU s/GB, "
        f"RSS +{m.rss_growth_mb} MB",
        file=sys.stderr,
        flush=True,
    )
    return m


def markdown(results: list[Measured], info: dict[str, Any], size: int, repeat: int) -> str:
    limit = next(r for r in results if r.server == "limit")
    lines = ["# OpenIMS download benchmark", ""]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    lines += [
        "",
        f"One file of {size / 2**20:,.0f} MiB of random bytes from the page cache, fetched with "
        f"curl into /dev/null over loopback: {repeat} downloads one at a time (median and best), "
        f"then {repeat} rounds of {PARALLEL} at once (median aggregate). Ratios are medians "
        "over the limit's median in this run.",
        "",
        f"| server | MB/s, one | best | of limit | MB/s, {PARALLEL} at once | of limit "
        "| server CPU s/GB | peak RSS growth MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.server} | {r.single:,.0f} | {max(r.single_mb_s):,.0f} | "
            f"{r.single / limit.single:.0%} | {r.parallel:,.0f} | "
            f"{r.parallel / limit.parallel:.0%} | {r.cpu_s_per_gb} | {r.rss_growth_mb} |"
        )
    lines += [
        "",
        "openims: `send_file` under `openims serve`'s protocol (sendfile); fallback: the same "
        "application under stock uvicorn (streamed 1 MiB chunks); starlette: Starlette's "
        "`FileResponse` under stock uvicorn; limit: one blocking `socket.sendfile` per request; "
        "nginx: `sendfile on`, one worker (when installed).",
        "",
        "Target (issue 12): one download ≥ 2,000 MB/s and ≥ 65% of nginx with sendfile.",
        "",
    ]
    return "\n".join(lines)


def main(args: argparse.Namespace, info: dict[str, Any], work: Path) -> int:
    if not shutil.which("curl"):
        print("curl is needed for the download benchmark", file=sys.stderr)
        return 2
    size = args.size_mib * 2**20
    path = work / "image.bin"
    with path.open("wb") as f:
        for _ in range(args.size_mib):
            f.write(os.urandom(2**20))
    with path.open("rb") as f:  # into the page cache before any server runs
        while f.read(2**24):
            pass
    kinds = ["limit", "openims", "fallback", "starlette"]
    if shutil.which("nginx"):
        kinds.insert(1, "nginx")
    results = [measure(kind, path, size, args.repeat, work) for kind in kinds]
    report = markdown(results, info, size, args.repeat)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "downloads.md").write_text(report)
    payload = {
        "meta": info,
        "size": size,
        "results": [{**asdict(r), "single": r.single, "parallel": r.parallel} for r in results],
    }
    (args.out / "downloads.json").write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
    print(report)
    print(f"\nwritten to {args.out}/downloads.md and downloads.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "--plain-server":
        sys.exit("run it as: python -m benchmarks.run --downloads")
    serve_plain(int(sys.argv[2]), sys.argv[3])
