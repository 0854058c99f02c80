"""`openims import` and `openims export`: image documents as JSON lines (or one JSON array).

Each object is a document as `GET /v2/images/{id}` returns it, optionally with
`"members": [{"member_id": "...", "status": "accepted"}]`. Import checks every line before it
writes anything (a bad line is reported with its number), then writes all of them in one
transaction; export writes the stored documents back, so export → import → export gives the
same bytes.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from openims.domain import access, documents, errors, times
from openims.store.images import ImageItem, ImageStore, Member

IMPORTABLE_MEMBER_STATUSES = access.MEMBER_STATUSES


class ImportFailed(Exception):
    """An object that cannot be imported; nothing was written. `where` is "line N" for JSON
    lines and "item N" for the elements of a JSON array."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


def _objects(stream: IO[bytes]) -> Iterator[tuple[str, Any]]:
    """(where, parsed value) for each object: JSON lines, or one JSON array."""
    head = stream.read(1)
    skipped_lines = 0
    while head and head.isspace():
        skipped_lines += head == b"\n"
        head = stream.read(1)
    if head == b"[":
        data = head + stream.read()
        try:
            values = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ImportFailed(
                f"line {_line_of(data, exc.pos) + skipped_lines}", f"not valid JSON: {exc.msg}"
            ) from None
        if not isinstance(values, list):
            raise ImportFailed("line 1", "expected a JSON array of image documents")
        for index, value in enumerate(values, start=1):
            yield f"item {index}", value
        return
    number = skipped_lines
    first = True
    for raw in stream:
        number += 1
        if first:
            raw = head + raw
            first = False
        if not raw.strip():
            continue
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ImportFailed(f"line {number}", f"not valid JSON: {exc.msg}") from None
        yield f"line {number}", value
    if first and head:  # a one-byte input
        raise ImportFailed("line 1", "not valid JSON")


def _line_of(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, max(pos, 0)) + 1


def _members(image: dict[str, Any], value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise ValueError("members must be a list of {member_id, status} objects")
    out: dict[str, str] = {}
    for entry in value:
        if not isinstance(entry, dict) or set(entry) - {"member_id", "status"}:
            raise ValueError("each member is an object with member_id and status")
        member_id, status = entry.get("member_id"), entry.get("status", "pending")
        if not isinstance(member_id, str) or not member_id or len(member_id) > 255:
            raise ValueError("member_id must be a project ID of 1-255 characters")
        if status not in IMPORTABLE_MEMBER_STATUSES:
            raise ValueError(f"member status must be one of {list(IMPORTABLE_MEMBER_STATUSES)}")
        if member_id == image.get("owner"):
            raise ValueError("an image cannot have its owner as a member")
        if member_id in out:
            raise ValueError(f"member {member_id} is listed twice")
        out[member_id] = status
    if out and image.get("visibility") != "shared":
        raise ValueError("only images with visibility 'shared' can have members")
    return tuple(out.items())


def check(value: Any, now: int) -> ImageItem:
    """One import object as a canonical document with its members; ValueError or ApiError
    says what is wrong."""
    if not isinstance(value, dict):
        raise ValueError("each line must be a JSON object (an image document)")
    doc = dict(value)
    members_value = doc.pop("members", [])
    doc.setdefault("id", str(uuid.uuid4()))
    if not isinstance(doc.get("owner"), str) or not doc["owner"]:
        raise ValueError("owner: an image needs the project that owns it")
    stamp = times.render(now)
    doc.setdefault("created_at", stamp)
    doc.setdefault("updated_at", doc["created_at"])
    canonical = documents.canonical(doc)
    if canonical["id"] != canonical["id"].lower():
        raise ValueError("id: use the lower-case form of the UUID")
    return ImageItem(canonical, _members(canonical, members_value))


@dataclass
class ImportResult:
    images: int


async def import_stream(
    store: ImageStore,
    stream: IO[bytes],
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Check every object of `stream`, then write them all in one transaction."""
    now = times.now()
    seen: dict[str, str] = {}
    with tempfile.TemporaryFile() as spool:
        for line, value in _objects(stream):
            try:
                item = check(value, now)
            except (ValueError, errors.ApiError) as exc:
                raise ImportFailed(line, str(exc)) from None
            image_id = item.doc["id"]
            if image_id in seen:
                raise ImportFailed(line, f"id {image_id} was already given on {seen[image_id]}")
            seen[image_id] = line
            spool.write(orjson.dumps({"doc": item.doc, "members": item.members}) + b"\n")
        spool.seek(0)

        def items() -> Iterator[ImageItem]:
            for raw in spool:
                entry = orjson.loads(raw)
                yield ImageItem(entry["doc"], tuple(tuple(m) for m in entry["members"]))

        try:
            count = await store.import_items(items(), progress=progress)
        except errors.ApiError as exc:
            if exc.spec is errors.IMAGE_ID_EXISTS:
                clash = str(exc.params.get("image_id"))
                raise ImportFailed(
                    seen.get(clash, "an earlier line"), f"image {clash} is already in the database"
                ) from None
            raise
    return ImportResult(images=count)


def export_line(doc: bytes, members: list[Member]) -> bytes:
    if not members:
        return doc + b"\n"
    listed = orjson.dumps([{"member_id": m.member_id, "status": m.status} for m in members])
    return doc[:-1] + b',"members":' + listed + b"}\n"


async def export_stream(store: ImageStore, out: IO[bytes]) -> int:
    count = 0
    async for doc, members in store.export():
        out.write(export_line(doc, members))
        count += 1
    return count
