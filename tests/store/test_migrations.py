"""Migrations run against databases that earlier revisions wrote, on SQLite and PostgreSQL:
an upgrade keeps every image, tag, custom property and member, and leaves each image's row
in agreement with its stored document."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
import sqlalchemy as sa
from alembic import command

from openims.domain import documents, registry
from openims.store import engine as engines
from openims.store import migrate
from openims.store.engine import create_engine
from openims.store.images import row
from openims.store.tables import images
from tests.reliability.consistency import problems
from tests.support.catalogs import image, private, shared
from tests.support.databases import PG_URL, create_database, drop_database, execute
from tests.support.servers import start_server


@pytest.fixture
def fresh_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database with no schema at all, of the backend under test."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    assert PG_URL, "OPENIMS_TEST_PG_URL is not set"
    name = f"openims_migration_{uuid.uuid4().hex[:12]}"
    yield create_database(PG_URL, name)
    drop_database(PG_URL, name)


def write_rows(url: str, docs: list[dict[str, Any]], custom: Any = None) -> None:
    """Rows for `docs` (stored documents; `members` taken out) in the tables as the database
    has them now, whatever its revision: columns it lacks are left out. `custom(doc)` gives
    the custom properties (default: what the current registry calls custom)."""
    custom = custom or documents.custom_properties

    async def go() -> None:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(write)
        finally:
            await engine.dispose()

    def write(sync: sa.Connection) -> None:
        meta = sa.MetaData()
        tables = {
            name: sa.Table(name, meta, autoload_with=sync)
            for name in ("images", "image_properties", "image_tags", "image_members")
        }

        def insert(table: str, values: list[dict[str, Any]]) -> None:
            columns = tables[table].c
            if values:
                sync.execute(
                    tables[table].insert(),
                    [{k: v for k, v in v.items() if k in columns} for v in values],
                )

        for doc in docs:
            members = doc.pop("members", [])
            values = row(doc)
            values["doc"] = orjson.dumps(doc)
            insert("images", [values])
            props = custom(doc).items()
            insert(
                "image_properties",
                [{"image_id": doc["id"], "name": k, "value": v} for k, v in props],
            )
            insert("image_tags", [{"image_id": doc["id"], "tag": t} for t in doc["tags"]])
            stamp = values["created_at"]
            insert(
                "image_members",
                [
                    {
                        "image_id": doc["id"],
                        "member_id": m["member_id"],
                        "status": m["status"],
                        "created_at": stamp,
                        "updated_at": stamp,
                        "image_created_at": stamp,
                    }
                    for m in members
                ],
            )

    asyncio.run(go())


def count(url: str, table: str) -> int:
    async def go() -> int:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                result = await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))  # noqa: S608
                return int(result.scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(go())


def stored(doc: dict[str, Any]) -> dict[str, Any]:
    members = doc.pop("members", [])
    return {**documents.canonical(doc, stored=True), "members": members}


def test_upgrades_from_the_first_revision_keep_tags_properties_and_members(
    fresh_url: str,
) -> None:
    """SQLite migrations rebuild the images table (copy, drop, rename); with foreign keys
    enforced the drop would cascade to every tag, property and member row."""
    migrate.upgrade(fresh_url, "0001")
    docs = [
        stored(image(name="public", team="blue", tags=["a", "k=v"])),
        stored(private("p1", name="private", squad="red", tags=["b"])),
        stored(shared("p1", {"p2": "accepted", "p3": "pending"}, name="shared", tags=["c"])),
    ]
    write_rows(fresh_url, docs)
    before = {t: count(fresh_url, t) for t in ("image_properties", "image_tags", "image_members")}
    assert before == {"image_properties": 2, "image_tags": 4, "image_members": 2}

    migrate.upgrade(fresh_url)

    after = {t: count(fresh_url, t) for t in before}
    assert after == before
    assert problems(fresh_url) == []


# --- 0006: os_hidden ---------------------------------------------------------------------------
# Lists return stored document bytes without parsing them, so 0006 puts the key into every
# stored document, in the place and the bytes a new write renders.


def _custom_0005(doc: dict[str, Any]) -> dict[str, Any]:
    """Custom properties as revision 0005 saw them: `os_hidden` was not registered."""
    return {k: v for k, v in doc.items() if k not in registry.BY_NAME or k == "os_hidden"}


def _as_0005(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as revision 0005 stored it: registered attributes in registry order but
    `os_hidden`, then the custom properties sorted, a custom `os_hidden` among them."""
    doc = dict(doc)
    members = doc.pop("members", [])
    custom_hidden = doc.pop("os_hidden", None)
    canon = documents.canonical(doc, stored=True)
    custom = _custom_0005(canon)
    custom.pop("os_hidden")
    if custom_hidden is not None:
        custom["os_hidden"] = custom_hidden
    registered = {k: v for k, v in canon.items() if k not in custom and k != "os_hidden"}
    return {**registered, **dict(sorted(custom.items())), "members": members}


def docs_of(url: str) -> dict[str, tuple[bytes, bool]]:
    async def go() -> dict[str, tuple[bytes, bool]]:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(sa.select(images.c.id, images.c.doc, images.c.os_hidden))
                return {str(r[0]): (bytes(r[1]), bool(r[2])) for r in rows}
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_0006_gives_every_stored_document_os_hidden(fresh_url: str, tmp_path: Path) -> None:
    migrate.upgrade(fresh_url, "0005")
    plain = [
        image(name="public", protected=True, team="blue", tags=["a", "k=v"]),
        private("p1", name="Other Linux(64 bit)", __description='say "protected":false,'),
        shared("p1", {"p2": "accepted"}, name="shared"),
    ]
    # before 0006 `os_hidden` was no attribute: a patch could store it as a custom string
    hidden = private("p1", name="was hidden", os_hidden="True")
    odd = private("p1", name="odd value", os_hidden="yes")
    old = [_as_0005(d) for d in (*plain, hidden, odd)]
    assert all("os_hidden" not in d for d in old[:3])
    assert list(old[3])[-2:] == ["os_hidden", "members"]  # the last custom property
    write_rows(fresh_url, old, custom=_custom_0005)

    async def raw() -> dict[str, bytes]:
        engine = create_engine(fresh_url, pool_size=1)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(sa.text("SELECT id, doc FROM images"))
                return {str(r[0]): bytes(r[1]) for r in rows}
        finally:
            await engine.dispose()

    old_bytes = asyncio.run(raw())

    migrate.upgrade(fresh_url)

    after = docs_of(fresh_url)
    flags = {d["id"]: False for d in plain} | {hidden["id"]: True, odd["id"]: False}
    for image_id, (doc_bytes, flag) in after.items():
        new = {**orjson.loads(old_bytes[image_id]), "os_hidden": flags[image_id]}
        assert doc_bytes == documents.render(documents.canonical(new, stored=True)), image_id
        assert flag == flags[image_id]
    assert count(fresh_url, "image_properties") == 1  # `team`; the custom os_hidden went
    assert problems(fresh_url) == []  # columns, properties and tags agree with documents

    # what the API serves: the stored bytes, with `os_hidden`; the hidden image is left out
    # of the Glance list only
    server = start_server(fresh_url, tmp_path, auth=False)
    try:
        admin = server.admin()
        for image_id, (doc_bytes, flag) in after.items():
            r = admin.get(f"/v2/images/{image_id}")
            assert r.content == doc_bytes and r.json()["os_hidden"] is flag
        assert {i["id"] for i in admin.get("/v2/images").json()["images"]} == set(after) - {
            hidden["id"]
        }
        assert {i["id"] for i in admin.get("/v2/cloudimages").json()["images"]} == set(after)
    finally:
        server.stop()

    # and back: the documents of the images without a custom os_hidden are as they were
    command.downgrade(migrate.config(fresh_url), "0005")
    back = asyncio.run(raw())
    assert {d["id"]: back[d["id"]] for d in plain} == {d["id"]: old_bytes[d["id"]] for d in plain}


# --- 0011: os_version a sort key ---------------------------------------------------------------


def test_0011_fills_a_missing_os_version_and_indexes_the_console_sorts(fresh_url: str) -> None:
    """Before 0011 an image without `__os_version` had NULL in the column; sort columns are
    NOT NULL (keyset paging compares row values), so the missing value becomes the empty
    string and the stored document keeps the attribute absent. Downgrading gives NULL back."""
    migrate.upgrade(fresh_url, "0010")
    with_version = stored(image(name="centos", __os_version="CentOS 7.6 64bit"))
    without = stored(private("p1", name="bare"))
    assert "__os_version" not in without
    write_rows(fresh_url, [with_version, without])
    execute(fresh_url, f"UPDATE images SET os_version = NULL WHERE id = '{without['id']}'")  # noqa: S608
    old_docs = {k: v[0] for k, v in docs_of(fresh_url).items()}

    migrate.upgrade(fresh_url)

    assert os_versions(fresh_url) == {with_version["id"]: "CentOS 7.6 64bit", without["id"]: ""}
    assert {k: v[0] for k, v in docs_of(fresh_url).items()} == old_docs
    assert problems(fresh_url) == []
    indexes = index_names(fresh_url)
    for column in ("os_version", "disk_format", "size"):
        assert f"ix_images_{column}_created_at_id" in indexes
    for column in ("imagetype", "status"):
        assert f"ix_images_visibility_{column}_created_at_id" in indexes
    with pytest.raises(sa.exc.IntegrityError):
        execute(fresh_url, f"UPDATE images SET os_version = NULL WHERE id = '{without['id']}'")  # noqa: S608

    command.downgrade(migrate.config(fresh_url), "0010")
    assert os_versions(fresh_url) == {with_version["id"]: "CentOS 7.6 64bit", without["id"]: None}
    assert "ix_images_os_version_created_at_id" not in index_names(fresh_url)


def os_versions(url: str) -> dict[str, str | None]:
    async def go() -> dict[str, str | None]:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(sa.text("SELECT id, os_version FROM images"))
                return {str(r[0]): r[1] for r in rows}
        finally:
            await engine.dispose()

    return asyncio.run(go())


def index_names(url: str) -> set[str]:
    async def go() -> set[str]:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                found = await conn.run_sync(lambda c: sa.inspect(c).get_indexes("images"))
                return {str(i["name"]) for i in found}
        finally:
            await engine.dispose()

    return asyncio.run(go())


# --- 0012: B-tree indexes without deduplication ------------------------------------------------


def test_0012_turns_deduplication_off_on_every_btree_index_of_the_image_tables(
    fresh_url: str,
) -> None:
    """Every B-tree index of images, tags and members ends in a key that makes its entries
    unique, so PostgreSQL's deduplication never finds equal ones: 0012 turns it off on each.
    (An import's rebuild keeps the setting, its definition carrying it: `test_bulk.py`
    compares the schema before and after.) SQLite has no such setting and is left as it was."""
    migrate.upgrade(fresh_url, "0011")
    write_rows(fresh_url, [stored(image(name="centos"))])
    migrate.upgrade(fresh_url)
    assert problems(fresh_url) == []
    if not fresh_url.startswith("postgresql"):
        return
    options = btree_options(fresh_url)
    # the images' default order, one per indexed attribute, two for the shared tab; tags; members
    assert len(options) >= 20
    assert all(o == ["deduplicate_items=off"] for o in options.values()), options

    command.downgrade(migrate.config(fresh_url), "0011")
    assert all(o is None for o in btree_options(fresh_url).values())


def btree_options(url: str) -> dict[str, list[str] | None]:
    """The storage options of the non-unique B-tree indexes of the image tables."""

    async def go() -> dict[str, list[str] | None]:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                found = await conn.exec_driver_sql(
                    "SELECT c.relname, c.reloptions FROM pg_index i "
                    "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
                    "WHERE i.indrelid IN ('images'::regclass, 'image_tags'::regclass, "
                    "'image_members'::regclass) AND NOT i.indisunique AND a.amname = 'btree'"
                )
                rows: list[Any] = list(found)
                return {str(r[0]): r[1] for r in rows}
        finally:
            await engine.dispose()

    return asyncio.run(go())


# --- 0013: image ids as uuid ----------------------------------------------------------------

_ID_COLUMNS = (
    ("images", "id"),
    ("image_properties", "image_id"),
    ("image_tags", "image_id"),
    ("image_members", "image_id"),
    ("image_uploads", "image_id"),
)


def id_types(url: str) -> set[str]:
    """The PostgreSQL types of every column that holds an image id."""
    wanted = " OR ".join(f"(table_name = '{t}' AND column_name = '{c}')" for t, c in _ID_COLUMNS)
    found = execute(
        url,
        "SELECT string_agg(DISTINCT data_type, ',') FROM information_schema.columns "  # noqa: S608
        f"WHERE {wanted}",
    )
    return set(str(found).split(","))


def test_0013_stores_image_ids_as_uuid_and_keeps_every_row(fresh_url: str) -> None:
    """On PostgreSQL the image ids of every table become `uuid`, read back as the same
    strings, the foreign keys still cascade; downgrading gives text back. SQLite keeps text."""
    migrate.upgrade(fresh_url, "0012")
    docs = [
        stored(image(name="centos", tags=["web", "db"], team="blue")),
        stored(shared("p1", {"p2": "accepted", "p3": "pending"}, name="shared")),
    ]
    write_rows(fresh_url, [dict(d) for d in docs])
    before = docs_of(fresh_url)
    members = {t: count(fresh_url, t) for t in ("image_properties", "image_tags", "image_members")}

    migrate.upgrade(fresh_url)
    assert docs_of(fresh_url) == before
    assert {t: count(fresh_url, t) for t in members} == members
    assert problems(fresh_url) == []
    if not fresh_url.startswith("postgresql"):
        return
    assert id_types(fresh_url) == {"uuid"}
    # the new type dropped the ids' statistics; the planner has them again
    analyzed = "SELECT count(*) FROM pg_stats WHERE attname IN ('id', 'image_id')"
    assert execute(fresh_url, analyzed) == 4  # images, properties, tags, members (uploads: none)
    execute(fresh_url, f"DELETE FROM images WHERE id = '{docs[1]['id']}'")  # noqa: S608
    assert count(fresh_url, "image_members") == 0  # the foreign key cascades

    command.downgrade(migrate.config(fresh_url), "0012")
    assert id_types(fresh_url) == {"character varying"}
    assert set(docs_of(fresh_url)) == {docs[0]["id"]}


def test_0013_refuses_an_id_in_upper_case_and_changes_nothing(fresh_url: str) -> None:
    """Before 0013 `POST /v2/images` kept a given UUID in upper case; `uuid` would give it
    back in lower case, so the upgrade stops, naming the image, and the schema stays."""
    migrate.upgrade(fresh_url, "0012")
    upper = stored(image(name="upper", id=str(uuid.uuid4()).upper()))
    write_rows(fresh_url, [upper])
    if not fresh_url.startswith("postgresql"):
        migrate.upgrade(fresh_url)  # SQLite keeps text: nothing to refuse
        assert set(docs_of(fresh_url)) == {upper["id"]}
        return
    with pytest.raises(migrate.Refused, match=upper["id"]):
        migrate.upgrade(fresh_url)
    assert id_types(fresh_url) == {"character varying"}
    assert execute(fresh_url, "SELECT version_num FROM alembic_version") == "0012"


def test_a_migration_is_not_bounded_by_the_request_timeout(
    fresh_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration may take minutes: 0013 rewrites every images row and index (a 1M catalog
    took longer than the 30 s a request may take), and it waits for the lock of an import
    still running. Its statements are bounded by the maintenance timeout, not the request's:
    here the request timeout is one second, and the migration waits three for a lock."""
    if not fresh_url.startswith("postgresql"):
        pytest.skip("SQLite statements have no timeout")
    migrate.upgrade(fresh_url, "0012")
    write_rows(fresh_url, [stored(image(name="centos"))])
    locked, release = threading.Event(), threading.Event()

    async def hold() -> None:
        conn = await asyncpg.connect(fresh_url)
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE images IN ACCESS EXCLUSIVE MODE")
                locked.set()
                await asyncio.sleep(3)
        finally:
            await conn.close()
            release.set()

    holder = threading.Thread(target=asyncio.run, args=(hold(),))
    holder.start()
    try:
        assert locked.wait(10)
        monkeypatch.setattr(engines, "REQUEST_TIMEOUT_SECONDS", 1.0)
        migrate.upgrade(fresh_url)
        assert release.is_set()  # it waited for the lock rather than timing out
    finally:
        holder.join()
    assert id_types(fresh_url) == {"uuid"}
