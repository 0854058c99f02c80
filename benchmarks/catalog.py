"""Benchmark catalogs: a demo catalog of N images in a database of its own, built once through
the store's bulk import path (`tests.support.catalogs.load`, as the tests load theirs) and
reused by later runs (it is deterministic by seed).

SQLite catalogs are files under `benchmarks/results/cache/`; PostgreSQL catalogs are databases
named `openims_bench_<N>` on the server of `--pg-url`."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from openims.service import demo
from openims.store import migrate
from openims.store.engine import create_engine
from openims.store.images import ImageStore
from tests.support import databases
from tests.support.catalogs import load

CACHE = Path(__file__).parent / "results" / "cache"
SEED = 2018


def sqlite_url(images: int) -> str:
    return f"sqlite:///{CACHE / f'openims-{images}.db'}"


def pg_url(admin_url: str, images: int) -> str:
    return databases.database_url(admin_url, f"openims_bench_{images}")


def _count(url: str) -> int:
    try:
        found = databases.execute(url, "SELECT count(*) FROM images")
    except Exception:
        return -1
    return found if isinstance(found, int) else 0


def _fill(url: str, images: int) -> None:
    done = 0
    started = time.monotonic()

    def progress(n: int) -> None:
        nonlocal done
        done += n
        if done % 50_000 < n:
            rate = done / max(time.monotonic() - started, 1e-9)
            print(f"  {done:>9,} images ({rate:,.0f}/s)", file=sys.stderr, flush=True)

    load(url, demo.catalog(images, SEED), progress=progress)


def prewarm(url: str) -> None:
    """Read the whole catalog once so the run measures a server in its steady state (the
    operating system's page cache holding the data), not the first disk reads after a build."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal"):
            file = Path(f"{path}{suffix}")
            if file.exists():
                with file.open("rb") as f:
                    while f.read(1 << 22):
                        pass
        return
    databases.execute(url, "CREATE EXTENSION IF NOT EXISTS pg_prewarm", autocommit=True)
    databases.execute(
        url,
        "SELECT sum(pg_prewarm(c.oid, 'read')) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')",
    )


def ensure(backend: str, images: int, admin_pg_url: str) -> str:
    """The URL of a database holding exactly the `images`-image demo catalog."""
    if backend == "sqlite":
        CACHE.mkdir(parents=True, exist_ok=True)
        url = sqlite_url(images)
        if _count(url) == images:
            return url
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        name = f"openims_bench_{images}"
        url = pg_url(admin_pg_url, images)
        exists = databases.execute(
            admin_pg_url,
            f"SELECT 1 FROM pg_database WHERE datname = '{name}'",  # noqa: S608
        )
        if exists and _count(url) == images:
            return url
        databases.drop_database(admin_pg_url, name)
        databases.create_database(admin_pg_url, name)
    print(f"building a {images:,}-image catalog on {backend} ...", file=sys.stderr, flush=True)
    migrate.upgrade(url)
    started = time.monotonic()
    _fill(url, images)
    databases.execute(
        url, "VACUUM ANALYZE" if backend == "postgres" else "ANALYZE", autocommit=True
    )
    print(f"  built in {time.monotonic() - started:,.0f} s", file=sys.stderr, flush=True)
    return url


async def sample_ids(url: str, owner: str, limit: int = 20_000) -> list[str]:
    """Ids of images `owner` owns, for single-image GET and PATCH load."""
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text("SELECT id FROM images WHERE owner = :o ORDER BY id LIMIT :n"),
                {"o": owner, "n": limit},
            )
            return [str(r[0]) for r in rows]  # a PostgreSQL uuid comes back as asyncpg's UUID
    finally:
        await engine.dispose()


async def time_window(url: str) -> tuple[str, str]:
    """A created_at window holding about a tenth of the catalog, as query-string times."""
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            low, high = (
                await conn.execute(sa.text("SELECT min(created_at), max(created_at) FROM images"))
            ).one()
    finally:
        await engine.dispose()
    from openims.domain import times

    span = int(high) - int(low)
    start = int(low) + span * 45 // 100
    return times.render(start), times.render(start + span // 10)


async def _plans(url: str, queries: dict[str, str], project: str) -> dict[str, str]:
    """EXPLAIN ANALYZE (PostgreSQL) or EXPLAIN QUERY PLAN (SQLite) of the statement the store
    sends for each `/v2/cloudimages` query string, as the planner chooses it at this size."""
    from urllib.parse import parse_qsl

    from openims.domain import query
    from openims.domain.access import Caller

    engine = create_engine(url, pool_size=1)
    caller = Caller(project)
    try:
        store = ImageStore(engine)
        out: dict[str, str] = {}
        for name, text in queries.items():
            q = query.parse_ims(parse_qsl(text), caller)
            out[name] = await store.explain(q, caller, analyze=True)
        return out
    finally:
        await engine.dispose()


def plans(url: str, queries: dict[str, str], project: str) -> dict[str, str]:
    return asyncio.run(_plans(url, queries, project))
