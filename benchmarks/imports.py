"""The import benchmark: `openims import` of a generated catalog file, timed as an operator runs
it (a separate process, into an empty database), against a floor measured in the same run:
reading the same file and parsing every line with orjson, the least any importer written in
Python does with it.

    .venv/bin/python -m benchmarks.run --imports                     # 100k and 1M, both backends
    .venv/bin/python -m benchmarks.run --imports --images 100000 --backend postgres --repeat 3

The catalog is the demo catalog of N images as `openims export` writes it (JSON lines, oldest
first: by creation time, then id; members inline), built once into
`benchmarks/results/cache/catalog-<N>.jsonl`. Each import goes into a new database (SQLite:
a new file; PostgreSQL: `openims_bench_import` on the server of `--pg-url`, dropped and
created again), so every run is a migration into an empty catalog. Writes
`benchmarks/results/imports.md` and `imports.json`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from benchmarks import catalog
from tests.support.databases import create_database, drop_database, execute

DATABASE = "openims_bench_import"


@dataclass
class Timed:
    backend: str
    images: int
    runs_s: list[float]
    loads: list[float]  # 1-minute load average before each run
    floor_s: float

    @property
    def best(self) -> float:
        return min(self.runs_s)

    @property
    def median(self) -> float:
        return statistics.median(self.runs_s)


def catalog_file(images: int) -> Path:
    """The demo catalog of `images` images as `openims export` writes it (built once)."""
    from openims.domain import documents
    from openims.service import demo

    path = catalog.CACHE / f"catalog-{images}.jsonl"
    if path.exists():
        return path
    catalog.CACHE.mkdir(parents=True, exist_ok=True)
    print(f"writing a {images:,}-image catalog file ...", file=sys.stderr, flush=True)
    lines = []
    for item in demo.catalog(images, catalog.SEED):
        line = documents.render(item.doc)
        if item.members:
            listed = [{"member_id": m, "status": s} for m, s in item.members]
            line = line[:-1] + b',"members":' + orjson.dumps(listed) + b"}"
        # export's order: by creation time (rendered times sort as text), then id
        lines.append((item.doc["created_at"], item.doc["id"], line + b"\n"))
    lines.sort()
    partial = path.with_suffix(".partial")
    with partial.open("wb") as out:
        out.writelines(line for _created, _id, line in lines)
    partial.rename(path)
    return path


def floor(path: Path) -> float:
    """Seconds to read `path` and parse every line (best of three)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        with path.open("rb") as f:
            for line in f:
                orjson.loads(line)
        best = min(best, time.perf_counter() - started)
    return best


def _empty_database(backend: str, pg_url: str, work: Path) -> str:
    """A new empty database, with what the last run wrote on disk first: the gigabytes an
    import leaves dirty (the OS's page cache; PostgreSQL's buffers, written by its
    checkpoints over minutes) would otherwise be written back during the next run, which
    then varied by up to 15%."""
    if backend == "sqlite":
        path = work / "import.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        drop_database(pg_url, DATABASE)
        url = create_database(pg_url, DATABASE)
        execute(pg_url, "CHECKPOINT", autocommit=True)
    os.sync()
    return url


def time_import(path: Path, url: str) -> float:
    """Wall seconds of `openims import` of `path` into `url` (migrated first, untimed)."""
    openims = [sys.executable, "-m", "openims"]
    subprocess.run([*openims, "db", "upgrade", "--database", url], check=True, capture_output=True)
    started = time.perf_counter()
    done = subprocess.run(
        [*openims, "import", str(path), "--database", url], capture_output=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode())
    return seconds


def run(backends: list[str], sizes: list[int], repeat: int, pg_url: str, work: Path) -> list[Timed]:
    results = []
    for images in sorted(sizes):
        path = catalog_file(images)
        floor_s = floor(path)
        print(f"floor {images:,}: {floor_s:.2f} s", file=sys.stderr, flush=True)
        for backend in backends:
            timed = Timed(backend, images, [], [], floor_s)
            for _ in range(repeat):
                url = _empty_database(backend, pg_url, work)
                timed.loads.append(round(os.getloadavg()[0], 1))
                timed.runs_s.append(time_import(path, url))
                print(
                    f"[{backend} {images:,}] {timed.runs_s[-1]:.1f} s "
                    f"({images / timed.runs_s[-1]:,.0f} images/s, load {timed.loads[-1]})",
                    file=sys.stderr,
                    flush=True,
                )
            if backend == "postgres":
                drop_database(pg_url, DATABASE)
            results.append(timed)
    return results


def markdown(results: list[Timed], meta: dict[str, Any]) -> str:
    lines = ["# OpenIMS import benchmark", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    lines += [
        "",
        "`openims import FILE` into an empty database, as a separate process; the floor is "
        "reading the same file and parsing each line with orjson.",
        "",
        "| backend | images | runs | best s | median s | images/s (best) | images/s (median) "
        "| floor s | floor images/s | load (1 min) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for t in results:
        lines.append(
            f"| {t.backend} | {t.images:,} | {len(t.runs_s)} | {t.best:.1f} | {t.median:.1f} | "
            f"{t.images / t.best:,.0f} | {t.images / t.median:,.0f} | {t.floor_s:.1f} | "
            f"{t.images / t.floor_s:,.0f} | {', '.join(str(x) for x in t.loads)} |"
        )
    lines.append("")
    return "\n".join(lines)


def main(args: Any, info: dict[str, Any], work: Path) -> int:
    results = run(args.backend, args.images, args.repeat, args.pg_url, work)
    info = {**info, "load": "the 1-minute load average of this shared machine before each run"}
    report = markdown(results, info)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "imports.md").write_text(report)
    (args.out / "imports.json").write_bytes(
        orjson.dumps(
            {"meta": info, "runs": [asdict(r) for r in results]}, option=orjson.OPT_INDENT_2
        )
    )
    print(report)
    print(f"\nwritten to {args.out}/imports.md and imports.json", file=sys.stderr)
    return 0
