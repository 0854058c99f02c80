"""The benchmark suite: one command builds the catalogs, starts the server, drives it over real
HTTP with `wrk` (a separate process), measures the ceiling of the same HTTP stack, and writes a
report to `benchmarks/results/report.md` and `report.json`, replacing the previous run's.

    .venv/bin/python -m benchmarks.run      # 100k and 1M, SQLite and PostgreSQL, 1 and 2 workers
    .venv/bin/python -m benchmarks.run --images 100000 --backend postgres --workers 2 --duration 5
    .venv/bin/python -m benchmarks.run --imports    # `openims import` speed instead (imports.py)
    .venv/bin/python -m benchmarks.run --checks     # the import's check alone (checks.py)
    .venv/bin/python -m benchmarks.run --downloads  # 1 GiB downloads vs. sendfile (downloads.py)
    .venv/bin/python -m benchmarks.run --uploads    # 1 GiB uploads vs. hashing, disk (uploads.py)

Every figure is requests per second and latency percentiles from wrk at a fixed number of
connections; the caller is the common tenant `demo` of the demo catalog (no-auth mode), except
for the marker walk, which an admin runs over the whole catalog.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks import catalog
from openims.api.console.views import SORT_KEYS
from tests.support.servers import free_port, launch, start_server, stop_process

HERE = Path(__file__).parent
RESULTS = HERE / "results"
WRK_SCRIPT = HERE / "wrk.lua"
TENANT = "demo"
TENANT_HEADERS = {"X-Project-Id": TENANT}
PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
PACED_CONNECTIONS = 16
CONSOLE_LIST = "/console/images"
# the console's list views timed one request at a time (`console_timing`): the bar is 100 ms
CONSOLE_VIEWS = (
    "tab=public&os_type=Linux",
    "tab=public&os_type=Linux&sort=name&dir=asc",
    "tab=private",
    "tab=shared&member_status=accepted",
    "tab=private&status=active&created_from=2018-01-01&created_to=2030-12-31",
    # every column's sort, both ways, in each tab
    *(
        f"tab={tab}&sort={key}&dir={direction}"
        for tab in ("public", "private", "shared&member_status=accepted")
        for key in SORT_KEYS
        if key != "created_at"
        for direction in ("asc", "desc")
    ),
)
CONSOLE_TARGET_MS = 100.0


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    method: str = "GET"
    body: str | None = None
    content_type: str | None = None
    uses_ids: bool = False
    rate: int | None = None  # paced at about this many requests/s instead of flat out


def scenarios(window: tuple[str, str]) -> list[Scenario]:
    low, high = window
    return [
        Scenario("unfiltered limit=500", "/v2/cloudimages?limit=500"),
        Scenario(
            "public images", "/v2/cloudimages?__imagetype=gold&visibility=public&protected=true"
        ),
        Scenario("private images", f"/v2/cloudimages?owner={TENANT}"),
        Scenario(
            "shared accepted",
            "/v2/cloudimages?member_status=accepted&visibility=shared&__imagetype=shared",
        ),
        Scenario(
            "shared rejected",
            "/v2/cloudimages?member_status=rejected&visibility=shared&__imagetype=shared",
        ),
        Scenario(
            "shared pending",
            "/v2/cloudimages?member_status=pending&visibility=shared&__imagetype=shared",
        ),
        Scenario("filtered limit=100", "/v2/cloudimages?__os_type=Linux&status=active&limit=100"),
        Scenario(
            "filtered limit=100 at 500 req/s",
            "/v2/cloudimages?__os_type=Linux&status=active&limit=100",
            rate=500,
        ),
        Scenario("tag limit=100", "/v2/cloudimages?tag=env=prod&limit=100"),
        Scenario(
            "created_at range limit=100",
            f"/v2/cloudimages?created_at=gt:{low}&created_at=lt:{high}&limit=100",
        ),
        Scenario("GET /v2/images/{id}", "/v2/images/{id}", uses_ids=True),
        # the web console's list page (docs/console.md): the same query, rendered as HTML
        Scenario("console list: public Linux", f"{CONSOLE_LIST}?tab=public&os_type=Linux"),
        Scenario("console list: private", f"{CONSOLE_LIST}?tab=private"),
        Scenario(
            "PATCH name",
            "/v2/images/{id}",
            method="PATCH",
            body='[{"op":"replace","path":"/name","value":"bench-{n}"}]',
            content_type=PATCH_TYPE,
            uses_ids=True,
        ),
    ]


@dataclass
class Measured:
    scenario: str
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    mb_per_s: float


@dataclass
class MarkerWalk:
    pages: int
    images: int
    seconds: float
    p50_ms: float
    p99_ms: float
    first_tenth_p50_ms: float
    last_tenth_p50_ms: float


@dataclass
class ConsoleTiming:
    """The console's list page, one request at a time over loopback (so the time is the
    server's, not a queue's): each view of CONSOLE_VIEWS, its first page and the page after
    it (the marker of its "Next page" link)."""

    requests: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    slowest_view: str


@dataclass
class RunResult:
    backend: str
    images: int
    workers: int
    connections: int
    duration_s: float
    openims: list[Measured] = field(default_factory=list)
    ceiling: list[Measured] = field(default_factory=list)
    marker_walk: MarkerWalk | None = None
    console: ConsoleTiming | None = None
    plans: dict[str, str] = field(default_factory=dict)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk (apt-get) ...", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, env=env)
    found = shutil.which("wrk")
    if not found:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
        found = shutil.which("wrk")
    assert found, "wrk is not installed"
    return found


# Servers start as the tests start theirs (`tests.support.servers`), in a process group of their
# own so that stopping one stops its workers too, and with more time to start and stop: a
# catalog of a million images takes a while to open.
START_SECONDS = 120
STOP_SECONDS = 30


@contextmanager
def openims_server(database: str, workers: int, directory: Path) -> Iterator[str]:
    """`openims serve --no-auth` on `database`; yields its URL."""
    server = start_server(
        database,
        directory,
        auth=False,
        workers=workers,
        env={"OPENIMS_LOG_LEVEL": "info"},
        timeout=START_SECONDS,
        own_session=True,
    )
    try:
        yield server.url
    finally:
        server.stop(STOP_SECONDS)


@contextmanager
def ceiling_server(responses: Path, workers: int, directory: Path) -> Iterator[str]:
    """The ceiling (`benchmarks.ceiling`) under uvicorn; yields its URL."""
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.ceiling:factory",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--no-server-header",
        "--log-level",
        "warning",
    ]
    env = {"OPENIMS_CEILING_RESPONSES": str(responses), "OPENIMS_LOG_LEVEL": "info"}
    proc = launch(
        args,
        port=port,
        log=directory / f"ceiling-{port}.log",
        env=env,
        ready=lambda r: r.status_code in (200, 404),  # it serves no /healthz of its own
        timeout=START_SECONDS,
        own_session=True,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc, STOP_SECONDS)


def wrk(
    url: str, scenario: Scenario, ids_file: Path, connections: int, seconds: float, wrk_bin: str
) -> Measured:
    headers = [f"X-Project-Id: {TENANT}"]
    if scenario.content_type:
        headers.append(f"Content-Type: {scenario.content_type}")
    env = {
        **os.environ,
        "BENCH_METHOD": scenario.method,
        "BENCH_PATH": scenario.path,
        "BENCH_HEADERS": "|".join(headers),
    }
    if scenario.uses_ids:
        env["BENCH_IDS"] = str(ids_file)
    if scenario.body:
        env["BENCH_BODY"] = scenario.body
    if scenario.rate:
        # a closed loop: each of 16 connections pauses so that, with a ~8 ms answer, the whole
        # comes to about `rate`; the report shows the rate reached
        connections = PACED_CONNECTIONS
        env["BENCH_DELAY_MS"] = str(max(1, connections * 1000 // scenario.rate - 8))
    args = [
        wrk_bin,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        url,
    ]
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    line = [x for x in done.stdout.splitlines() if x.startswith("{")][-1]
    out = json.loads(line)
    duration = out["duration_us"] / 1e6
    return Measured(
        scenario=scenario.name,
        rps=round(out["requests"] / duration, 1),
        p50_ms=out["p50_us"] / 1000,
        p90_ms=out["p90_us"] / 1000,
        p99_ms=out["p99_us"] / 1000,
        max_ms=out["max_us"] / 1000,
        requests=out["requests"],
        non_2xx=out["non_2xx"],
        socket_errors=out["socket_errors"],
        mb_per_s=round(out["bytes"] / duration / 1e6, 1),
    )


def capture(url: str, items: list[Scenario], sample_id: str) -> dict[str, str]:
    """What the real server returns for each GET scenario, for the ceiling to replay."""
    out: dict[str, str] = {}
    with httpx.Client(base_url=url, headers=TENANT_HEADERS, timeout=60) as client:
        for s in items:
            if s.uses_ids:
                continue
            r = client.get(s.path)
            r.raise_for_status()
            out[s.path] = r.text
        out["<image>"] = client.get(f"/v2/images/{sample_id}").raise_for_status().text
    return out


def console_timing(url: str, rounds: int = 20) -> ConsoleTiming:
    """Time the console's list page as TENANT (`demo`, the no-auth default) sees it."""
    times: dict[str, list[float]] = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        client.get(CONSOLE_LIST).raise_for_status()  # the session cookie, once
        for _ in range(rounds):
            for view in CONSOLE_VIEWS:
                path = f"{CONSOLE_LIST}?{view}"
                t0 = time.perf_counter()
                page = client.get(path)
                times.setdefault(view, []).append(time.perf_counter() - t0)
                page.raise_for_status()
                found = re.search(r'href="(/console/images\?[^"]+)" id="next-page"', page.text)
                if found:
                    t0 = time.perf_counter()
                    client.get(found.group(1).replace("&amp;", "&")).raise_for_status()
                    times.setdefault(view + " (page 2)", []).append(time.perf_counter() - t0)
    ms = sorted(x * 1000 for xs in times.values() for x in xs)
    slowest = max(times, key=lambda v: statistics.median(times[v]))
    return ConsoleTiming(
        requests=len(ms),
        p50_ms=round(statistics.median(ms), 2),
        p99_ms=round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
        max_ms=round(ms[-1], 2),
        slowest_view=slowest,
    )


def marker_walk(url: str, limit: int = 500) -> MarkerWalk:
    """Page through the whole catalog as an admin with `marker`, one request at a time."""
    latencies: list[float] = []
    images = 0
    marker: str | None = None
    started = time.perf_counter()
    with httpx.Client(
        base_url=url, headers={"X-Project-Id": "bench-admin", "X-Roles": "admin"}, timeout=60
    ) as client:
        while True:
            params: dict[str, Any] = {"limit": limit}
            if marker:
                params["marker"] = marker
            t0 = time.perf_counter()
            r = client.get("/v2/cloudimages", params=params)
            latencies.append(time.perf_counter() - t0)
            r.raise_for_status()
            page = orjson.loads(r.content)["images"]
            images += len(page)
            if len(page) < limit:
                break
            marker = page[-1]["id"]
    seconds = time.perf_counter() - started
    tenth = max(1, len(latencies) // 10)
    ms = [x * 1000 for x in latencies]
    return MarkerWalk(
        pages=len(latencies),
        images=images,
        seconds=round(seconds, 2),
        p50_ms=round(statistics.median(ms), 2),
        p99_ms=round(sorted(ms)[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
        first_tenth_p50_ms=round(statistics.median(ms[:tenth]), 2),
        last_tenth_p50_ms=round(statistics.median(ms[-tenth:]), 2),
    )


def run_one(
    backend: str, images: int, workers: int, args: argparse.Namespace, wrk_bin: str, work: Path
) -> RunResult:
    database = catalog.ensure(backend, images, args.pg_url)
    subprocess.run(
        [sys.executable, "-m", "openims", "db", "upgrade", "--database", database],
        check=True,
        capture_output=True,
    )
    catalog.prewarm(database)
    ids = asyncio.run(catalog.sample_ids(database, TENANT))
    ids_file = work / f"ids-{backend}-{images}.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    items = scenarios(asyncio.run(catalog.time_window(database)))
    if args.only:
        items = [s for s in items if any(part in s.name for part in args.only)]
    result = RunResult(backend, images, workers, args.connections, args.duration)
    ims_queries = {
        s.name: s.path.split("?", 1)[1]
        for s in items
        if s.path.startswith("/v2/cloudimages?") and s.method == "GET"
    }
    result.plans = catalog.plans(database, ims_queries, TENANT)
    label = f"{backend} {images:,} images, {workers} worker(s)"
    with openims_server(database, workers, work) as url:
        captured = capture(url, items, ids[0])
        for s in items:
            wrk(url, s, ids_file, args.connections, min(2.0, args.duration), wrk_bin)  # warm-up
            m = wrk(url, s, ids_file, args.connections, args.duration, wrk_bin)
            result.openims.append(m)
            print(
                f"[{label}] {s.name}: {m.rps:,.0f} req/s, p99 {m.p99_ms:.1f} ms"
                + (f", {m.non_2xx} non-2xx" if m.non_2xx else ""),
                file=sys.stderr,
                flush=True,
            )
        if not args.only or any("console" in part for part in args.only):
            result.console = console_timing(url)
            print(f"[{label}] console list page: {asdict(result.console)}", file=sys.stderr)
        if not args.no_walk:
            result.marker_walk = marker_walk(url)
            print(f"[{label}] marker walk: {asdict(result.marker_walk)}", file=sys.stderr)
    if args.no_ceiling:
        return result
    responses = work / f"ceiling-{backend}-{images}.json"
    responses.write_bytes(orjson.dumps(captured))
    with ceiling_server(responses, workers, work) as url:
        for s in items:
            wrk(url, s, ids_file, args.connections, min(2.0, args.duration), wrk_bin)
            m = wrk(url, s, ids_file, args.connections, args.duration, wrk_bin)
            result.ceiling.append(m)
            print(f"[{label}] ceiling {s.name}: {m.rps:,.0f} req/s", file=sys.stderr, flush=True)
    return result


# --- report -----------------------------------------------------------------------------------
TARGETS = {  # scenario → (minimum req/s), for 2 workers on PostgreSQL at 1M images
    "filtered limit=100": 500,
    "unfiltered limit=500": 100,
    "GET /v2/images/{id}": 2000,
    "PATCH name": 500,
}


def _fraction(m: Measured, ceiling: list[Measured]) -> str:
    top = next((c for c in ceiling if c.scenario == m.scenario), None)
    if top is None or not top.rps:
        return "-"
    return f"{m.rps / top.rps:.0%}"


def markdown(results: list[RunResult], meta: dict[str, Any]) -> str:
    lines = ["# OpenIMS benchmark report", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    lines.append("")
    for r in results:
        lines += [
            f"## {r.backend}, {r.images:,} images, {r.workers} worker(s)",
            "",
            f"wrk, 1 thread, {r.connections} connections, {r.duration_s:g} s per scenario.",
            "",
            "| scenario | req/s | p50 ms | p99 ms | MB/s | ceiling req/s | of ceiling | errors |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for m in r.openims:
            top = next((c for c in r.ceiling if c.scenario == m.scenario), None)
            lines.append(
                f"| {m.scenario} | {m.rps:,.0f} | {m.p50_ms:.1f} | {m.p99_ms:.1f} | "
                f"{m.mb_per_s:g} | {top.rps if top else 0:,.0f} | {_fraction(m, r.ceiling)} | "
                f"{m.non_2xx + m.socket_errors} |"
            )
        if r.marker_walk:
            w = r.marker_walk
            lines += [
                "",
                f"Marker walk (admin, limit=500, one request at a time): {w.pages:,} pages, "
                f"{w.images:,} images in {w.seconds:,.1f} s; page p50 {w.p50_ms} ms, "
                f"p99 {w.p99_ms} ms; first tenth p50 {w.first_tenth_p50_ms} ms, "
                f"last tenth p50 {w.last_tenth_p50_ms} ms.",
            ]
        if r.console:
            c = r.console
            verdict = "met" if c.p99_ms < CONSOLE_TARGET_MS else "NOT met"
            lines += [
                "",
                f"Console list page (one request at a time, {c.requests} requests over "
                f"{len(CONSOLE_VIEWS)} views and their second pages): p50 {c.p50_ms} ms, "
                f"p99 {c.p99_ms} ms, max {c.max_ms} ms (slowest view: `{c.slowest_view}`); "
                f"the bar, p99 under {CONSOLE_TARGET_MS:g} ms: {verdict}.",
            ]
        if r.plans:
            lines += ["", "<details><summary>Query plans at this size</summary>", ""]
            for name, plan in r.plans.items():
                lines += [f"{name}:", "", "```", plan, "```", ""]
            lines += ["</details>"]
        lines.append("")
    scaling = _scaling(results)
    if scaling:
        lines += [
            "## Scaling (req/s at the smaller catalog ÷ req/s at the larger; ≤ 1.5 is the bar)",
            "",
            "| backend | workers | catalogs | scenario | ratio |",
            "|---|---:|---|---|---:|",
        ]
        lines += scaling
        lines.append("")
    return "\n".join(lines)


def _scaling(results: list[RunResult]) -> list[str]:
    rows = []
    keyed = {(r.backend, r.workers, r.images): r for r in results}
    for (backend, workers, images), small in sorted(keyed.items()):
        bigger = sorted(i for (b, w, i) in keyed if b == backend and w == workers and i > images)
        if not bigger:
            continue
        large = keyed[(backend, workers, bigger[-1])]
        for m in small.openims:
            other = next((x for x in large.openims if x.scenario == m.scenario), None)
            if other and other.rps:
                rows.append(
                    f"| {backend} | {workers} | {images:,} → {large.images:,} | {m.scenario} | "
                    f"{m.rps / other.rps:.2f} |"
                )
        if small.marker_walk and large.marker_walk:
            rows.append(
                f"| {backend} | {workers} | {images:,} → {large.images:,} | marker page p50 | "
                f"{large.marker_walk.p50_ms / small.marker_walk.p50_ms:.2f} |"
            )
    return rows


def meta(argv: list[str]) -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit or "unknown",
        "command": shlex.join(["python", "-m", "benchmarks.run", *argv]),
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, "
        f"Python {platform.python_version()}",
        "load generator": "wrk on the same machine",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--images", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--backend", nargs="+", choices=("sqlite", "postgres"), default=["sqlite", "postgres"]
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("OPENIMS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--no-walk", action="store_true", help="skip the marker walk")
    parser.add_argument(
        "--only",
        nargs="+",
        default=None,
        help="run only scenarios whose name contains one of these",
    )
    parser.add_argument("--no-ceiling", action="store_true", help="skip the ceiling server")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--imports",
        action="store_true",
        help="time `openims import` of the catalogs instead of serving them (imports.py)",
    )
    parser.add_argument(
        "--checks",
        action="store_true",
        help="time the import's check of the largest catalog alone, without a database (checks.py)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="imports of each catalog, downloads of each server"
    )
    parser.add_argument(
        "--downloads",
        action="store_true",
        help="time downloads of one large file against sendfile's limit instead (downloads.py)",
    )
    parser.add_argument(
        "--uploads",
        action="store_true",
        help="time 1 GiB uploads into openims serve against the hash, disk and loopback "
        "limits instead (uploads.py)",
    )
    parser.add_argument(
        "--size-mib", type=int, default=1024, help="the downloaded or uploaded file's size"
    )
    args = parser.parse_args(argv)

    if args.downloads:
        from benchmarks import downloads

        info = meta(sys.argv[1:] if argv is None else argv)
        info["load generator"] = "curl on the same machine"
        with tempfile.TemporaryDirectory(prefix="openims-bench-") as tmp:
            return downloads.main(args, info, Path(tmp))

    if args.uploads:
        from benchmarks import uploads

        info = meta(sys.argv[1:] if argv is None else argv)
        info["load generator"] = "curl on the same machine"
        with tempfile.TemporaryDirectory(prefix=".bench-uploads-", dir=HERE.parent) as tmp:
            return uploads.main(args, info, Path(tmp))

    if args.checks:
        from benchmarks import checks

        info = meta(sys.argv[1:] if argv is None else argv)
        info.pop("load generator")
        return checks.main(args, info)

    if args.imports:
        from benchmarks import imports

        if "postgres" in args.backend:
            subprocess.run(
                [str(Path(__file__).parents[1] / "scripts" / "ensure-postgres"), args.pg_url],
                check=True,
            )
        info = meta(sys.argv[1:] if argv is None else argv)
        info.pop("load generator")
        with tempfile.TemporaryDirectory(prefix="openims-bench-") as tmp:
            return imports.main(args, info, Path(tmp))

    wrk_bin = ensure_wrk()
    if "postgres" in args.backend:
        subprocess.run(
            [str(Path(__file__).parents[1] / "scripts" / "ensure-postgres"), args.pg_url],
            check=True,
        )
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="openims-bench-") as tmp:
        for backend in args.backend:
            for images in sorted(args.images):
                for workers in args.workers:
                    results.append(run_one(backend, images, workers, args, wrk_bin, Path(tmp)))
    args.out.mkdir(parents=True, exist_ok=True)
    info = meta(sys.argv[1:] if argv is None else argv)
    report = markdown(results, info)
    # stable names: a new run replaces the committed report instead of adding files beside it
    (args.out / "report.md").write_text(report)
    (args.out / "report.json").write_bytes(
        orjson.dumps(
            {"meta": info, "runs": [asdict(r) for r in results]}, option=orjson.OPT_INDENT_2
        )
    )
    print(report)
    print(f"\nwritten to {args.out}/report.md and report.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
