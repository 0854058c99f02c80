"""The import's check alone, without a database: what `openims import` does with every object
before it writes anything, where most of its CPU goes.

    .venv/bin/python -m benchmarks.run --checks --images 1000000 --repeat 3

Two figures for the catalog of `benchmarks/imports.py` (built once into the cache):

- the check phase: `transfer.check_stream` over the whole file with its worker processes, in
  a new process each run, its wall time and the CPU time of the importing process and of the
  workers;
- per document, in this process, over the first 100,000 objects in batches as the workers
  take them: `documents.canonical` of each document against `documents.canonical_many` of
  each batch, the two taking turns, so that a machine whose speed drifts drifts for both;
- the spool's rows (`store.bulk`), over the first 20,000 objects: writing and reading them
  with marshal (the spool's codec) and with pickle, taking turns.

Writes `checks.md` and `checks.json` to `--out`.
"""

from __future__ import annotations

import itertools
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from benchmarks.imports import catalog_file

_PER_DOCUMENT = 100_000


def _cpu(who: int) -> float:
    used = resource.getrusage(who)
    return used.ru_utime + used.ru_stime


def check_phase(path: Path) -> dict[str, float]:
    """One `check_stream` of `path`, in a process of its own (the workers' CPU is its
    children's)."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.checks", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    timed: dict[str, float] = json.loads(out)
    return timed


def per_document(path: Path, rounds: int) -> dict[str, list[float]]:
    """µs per document of `canonical` of each and `canonical_many` of each batch, `rounds`
    times each, taking turns."""
    from openims.domain import documents, times
    from openims.service import transfer
    from openims.store.bulk import BATCH

    now = times.now()
    with path.open("rb") as f:
        lines = list(itertools.islice(f, _PER_DOCUMENT))
    batches = [
        [transfer._prepared(orjson.loads(line), now)[0] for line in lines[i : i + BATCH]]
        for i in range(0, len(lines), BATCH)
    ]

    def each() -> None:
        for batch in batches:
            for doc in batch:
                documents.canonical(doc, stored=True)

    def together() -> None:
        for batch in batches:
            documents.canonical_many(batch, stored=True)

    found: dict[str, list[float]] = {"canonical": [], "canonical_many": []}
    for _ in range(rounds):
        for name, work in (("canonical", each), ("canonical_many", together)):
            started = time.process_time()
            work()
            found[name].append((time.process_time() - started) / len(lines) * 1e6)
    return found


_ROWS = 20_000


def spool_codecs(path: Path, rounds: int) -> dict[str, list[float]]:
    """µs per image to write the rows of a batch (`bulk.rows`) into the spool and to read
    them back, with the spool's codec (marshal) and with pickle (protocol 5), over the first
    _ROWS objects. After a round of each that is not counted, the two take turns, each going
    first every other round: the first to run in a process pays for the memory it grows
    (measured so, pickle once looked faster than marshal)."""
    import marshal
    import pickle

    from openims.domain import times
    from openims.service import transfer
    from openims.store import bulk

    now = times.now()
    with path.open("rb") as f:
        lines = list(itertools.islice(f, _ROWS))
    tables = [
        table
        for i in range(0, len(lines), bulk.BATCH)
        for table in bulk.rows(
            transfer.check_many([orjson.loads(x) for x in lines[i : i + bulk.BATCH]], now), now
        )
    ]

    def pickled(rows: Any) -> bytes:
        return pickle.dumps(rows, protocol=5)

    codecs: list[tuple[str, Callable[[Any], bytes], Callable[[bytes], Any]]] = [
        ("marshal", marshal.dumps, marshal.loads),
        ("pickle", pickled, pickle.loads),
    ]
    found: dict[str, list[float]] = {}
    for turn in range(rounds + 1):
        for name, dumps, loads in codecs if turn % 2 else codecs[::-1]:
            started = time.process_time()
            written = [dumps(table) for table in tables]
            wrote = time.process_time() - started
            started = time.process_time()
            for data in written:
                loads(data)
            read = time.process_time() - started
            if turn:
                found.setdefault(f"{name}: write", []).append(wrote / len(lines) * 1e6)
                found.setdefault(f"{name}: read", []).append(read / len(lines) * 1e6)
    return found


def _rounds(title: str, what: str, found: dict[str, list[float]], digits: int) -> list[str]:
    """A table of figures measured in rounds: each round's, then their median."""
    lines = ["", title, "", f"| {what} | rounds | median µs |", "|---|---|---:|"]
    for name, figures in found.items():
        rounds = ", ".join(f"{x:.{digits}f}" for x in figures)
        lines.append(f"| {name} | {rounds} | {statistics.median(figures):.{digits}f} |")
    return lines


def markdown(
    phases: list[dict[str, float]],
    docs: dict[str, list[float]],
    codecs: dict[str, list[float]],
    meta: dict[str, Any],
) -> str:
    lines = ["# OpenIMS import check benchmark", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    lines += [
        "",
        "`check_stream` of the catalog file with its worker processes, no database:",
        "",
        "| run | images | wall s | importing process CPU-s | workers CPU-s |",
        "|---:|---:|---:|---:|---:|",
    ]
    for n, p in enumerate(phases, 1):
        lines.append(
            f"| {n} | {int(p['images']):,} | {p['wall']:.1f} | {p['main_cpu']:.1f} | "
            f"{p['workers_cpu']:.1f} |"
        )
    lines += _rounds(
        f"Per document, first {_PER_DOCUMENT:,} objects, CPU µs (each round in turn):",
        "function",
        {f"`{name}`": found for name, found in docs.items()},
        1,
    )
    lines += _rounds(
        f"The spool's rows, first {_ROWS:,} objects, CPU µs per image (each round in turn):",
        "codec",
        codecs,
        2,
    )
    lines.append("")
    return "\n".join(lines)


def main(args: Any, info: dict[str, Any]) -> int:
    images = max(args.images)
    path = catalog_file(images)
    phases = [check_phase(path) for _ in range(args.repeat)]
    docs = per_document(path, args.repeat)
    codecs = spool_codecs(path, args.repeat)
    report = markdown(phases, docs, codecs, info)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "checks.md").write_text(report)
    (args.out / "checks.json").write_bytes(
        orjson.dumps({"meta": info, "phases": phases, "per_document": docs, "spool_codecs": codecs})
    )
    print(report)
    print(f"\nwritten to {args.out}/checks.md and checks.json", file=sys.stderr)
    return 0


def _child(path: str) -> None:
    from openims.service import transfer

    started = time.perf_counter()
    with open(path, "rb") as f:
        checked = transfer.check_stream(f)
    wall = time.perf_counter() - started
    with checked:
        count = checked.count
    print(
        json.dumps(
            {
                "images": count,
                "wall": wall,
                "main_cpu": _cpu(resource.RUSAGE_SELF),
                "workers_cpu": _cpu(resource.RUSAGE_CHILDREN),
            }
        )
    )


if __name__ == "__main__":  # the workers are spawned: they import this module, not run it
    _child(sys.argv[1])
