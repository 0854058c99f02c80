"""The checkers the reliability tests rely on find what they are meant to find: a lost write,
a row whose columns disagree with its document, a side-table row without its image."""

from __future__ import annotations

import asyncio
import uuid

import sqlalchemy as sa

from openims.store.engine import create_engine
from tests.reliability import consistency
from tests.reliability.writes import Ack, add_member, add_tag, create, missing, patch
from tests.support.servers import Server


def test_missing_reports_exactly_the_writes_that_are_not_there(server: Server) -> None:
    c = server.client("p-checks")
    made = create(c, "a")
    real = [
        made,
        add_tag(c, made.image_id, "b"),
        add_member(c, made.image_id, "c"),
        patch(c, made.image_id, "d"),  # one in each dialect
        patch(c, made.image_id, "e"),
    ]
    lost = [
        Ack("create", str(uuid.uuid4()), "x"),
        Ack("create", made.image_id, "not-its-token"),
        Ack("add_tag", made.image_id, "t-never"),
        Ack("add_member", made.image_id, "m-never"),
        Ack("patch", made.image_id, "never"),
    ]
    assert missing(c, real) == []
    assert missing(c, real + lost) == lost


def _execute(url: str, statement: str, image_id: str) -> None:
    async def go() -> None:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.begin() as conn:
                await conn.execute(sa.text(statement), {"id": image_id})
        finally:
            await engine.dispose()

    asyncio.run(go())


def test_consistency_finds_rows_that_disagree(server: Server) -> None:
    c = server.client("p-checks")
    image = c.post("/v2/images", json={"name": "sound", "tags": ["a"], "team": "blue"}).json()
    url = server.database_url
    assert consistency.problems(url) == []

    _execute(url, "UPDATE images SET name = 'tampered' WHERE id = :id", image["id"])
    _execute(url, "DELETE FROM image_tags WHERE image_id = :id", image["id"])
    _execute(url, "UPDATE image_properties SET value = 'red' WHERE image_id = :id", image["id"])
    found = consistency.problems(url)
    assert any("column name = 'tampered'" in p for p in found), found
    assert any("tags table" in p for p in found), found
    assert any("properties table" in p for p in found), found
