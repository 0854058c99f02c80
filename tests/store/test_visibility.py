"""What a list shows before its filters, on SQLite and PostgreSQL: the SQL the store sends
(`store.images.visible_to`) and its Python form (`domain.access.listed`) agree for every
caller, every relation of the caller to an image and every visibility and member_status a
query can ask for, on both faces."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import orjson

from openims.domain import access
from openims.domain.access import MEMBER_STATUSES, Caller, ImageAccess
from openims.domain.query import ListQuery
from openims.store.engine import create_engine
from openims.store.images import ImageStore
from tests.support.catalogs import image, load, private, shared

ADMIN = "admin-project"
CALLERS = (Caller("p1"), Caller("p2"), Caller("p9"), Caller(ADMIN, frozenset({"admin"})))
VISIBILITIES = (None, "all", "public", "private", "shared", "community")
STATUSES = (None, *MEMBER_STATUSES, "all")


def catalog() -> list[dict[str, Any]]:
    """Images of p1 and p2 in every visibility, registered or not; shared ones with p1, p2
    and the admin's project as members in every status (or not members at all)."""
    docs: list[dict[str, Any]] = []
    for owner, registered in itertools.product(("p1", "p2", ADMIN), ("true", "false")):
        flags = {"__isregistered": registered}
        docs.append(image(owner=owner, **flags))
        docs.append(private(owner, **flags))
        docs.append(image(owner=owner, visibility="community", __imagetype="private", **flags))
        others = [p for p in ("p1", "p2", ADMIN) if p != owner]
        for statuses in itertools.product((None, *MEMBER_STATUSES), repeat=len(others)):
            members = {p: s for p, s in zip(others, statuses, strict=True) if s is not None}
            docs.append(shared(owner, members, **flags))
    return docs


def expected(docs: list[dict[str, Any]], caller: Caller, q: ListQuery) -> set[str]:
    out = set()
    for doc in docs:
        status = next(
            (m["status"] for m in doc.get("members", []) if m["member_id"] == caller.project_id),
            None,
        )
        facts = ImageAccess(
            doc["owner"], doc["visibility"], doc["__isregistered"] == "true", status
        )
        if access.listed(
            caller, facts, q.visibility, q.member_status, membership_only=q.membership_only
        ):
            out.add(doc["id"])
    return out


async def _listed(url: str, queries: list[tuple[Caller, ListQuery]]) -> list[set[str]]:
    engine = create_engine(url, pool_size=1)
    try:
        store = ImageStore(engine)
        out = []
        for caller, q in queries:
            out.append({d["id"] for d in map(_parse, await store.query(q, caller))})
        return out
    finally:
        await engine.dispose()


def _parse(doc: bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(doc)
    return parsed


def test_the_store_lists_what_the_access_rules_say(db_url: str) -> None:
    docs = catalog()
    load(db_url, docs)
    queries = [
        (caller, ListQuery(visibility=v, member_status=s, membership_only=m, limit=1000))
        for caller in CALLERS
        for v in VISIBILITIES
        for s in STATUSES
        for m in (False, True)
    ]
    answers = asyncio.run(_listed(db_url, queries))
    disagreements = [
        (caller.project_id, q.visibility, q.member_status, q.membership_only)
        for (caller, q), got in zip(queries, answers, strict=True)
        if got != expected(docs, caller, q)
    ]
    assert disagreements == []
    # the catalog exercises the rules: every caller's default list has some images, not all
    for caller in CALLERS:
        seen = expected(docs, caller, ListQuery())
        assert seen and len(seen) < len(docs), caller
