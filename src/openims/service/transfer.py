"""`openims import` and `openims export`: image documents as JSON lines (or one JSON array).

Each object is a document as `GET /v2/images/{id}` returns it, optionally with
`"members": [{"member_id": "...", "status": "accepted"}]`. Import checks every object before it
writes anything (a bad one is reported by its line number; an array element by the line and
column where it starts, and its number), then writes all of them in one transaction; export
writes the stored documents back, so export → import → export gives the same bytes.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Callable, Iterator
from typing import IO, Any

import orjson

from openims import errors
from openims.domain import access, documents, times
from openims.domain.documents import ImageItem
from openims.domain.sharing import Member
from openims.store.bulk import BATCH, Spool
from openims.store.images import ImageStore

IMPORTABLE_MEMBER_STATUSES = access.MEMBER_STATUSES


class ImportFailed(Exception):
    """An object that cannot be imported; nothing was written. `where` is "line N" for JSON
    lines and "line N, column C (item K)" for the K-th element of a JSON array: where that
    element starts in the file, since an array is often written on one line."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


Progress = Callable[[int], None]
"""Told how much was done since its last call: bytes of input read, or images written."""


def _objects(stream: IO[bytes], progress: Progress | None = None) -> Iterator[tuple[str, Any]]:
    """(where, parsed value) for each object: JSON lines, or one JSON array. `progress` is
    told the bytes of input each object took (blank lines and separators included)."""
    head = stream.read(1)
    skipped_lines = skipped_bytes = 0
    column = 1  # of `head` in its line
    while head and head.isspace():
        skipped_bytes += 1
        if head == b"\n":
            skipped_lines += 1
            column = 1
        else:
            column += 1
        head = stream.read(1)
    if head == b"[":
        if progress is not None:
            progress(skipped_bytes + 1)
        yield from _array_elements(stream, skipped_lines + 1, column + 1, progress)
        return
    if progress is not None:
        progress(skipped_bytes)
    number = skipped_lines
    first = True
    for raw in stream:
        number += 1
        if first:
            raw = head + raw
            first = False
        if progress is not None:
            progress(len(raw))
        if not raw.strip():
            continue
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ImportFailed(f"line {number}", f"not valid JSON: {exc.msg}") from None
        yield f"line {number}", value
    if first and head:  # a one-byte input
        if progress is not None:
            progress(1)
        raise ImportFailed("line 1", "not valid JSON")


_JSON_SPACE = re.compile(r"[ \t\n\r]*")


class _Positions:
    """Line and column of an offset in `text`, for offsets asked in increasing order: each
    character is looked at once, so a huge array on one line costs no more than a short one."""

    def __init__(self, text: str, first_line: int, first_column: int) -> None:
        self.text = text
        self.line = first_line
        self.line_start = 1 - first_column  # offset where the current line starts
        self.done = 0

    def __call__(self, offset: int) -> str:
        newlines = self.text.count("\n", self.done, offset)
        if newlines:
            self.line += newlines
            self.line_start = self.text.rindex("\n", self.done, offset) + 1
        self.done = max(self.done, offset)
        return f"line {self.line}, column {offset - self.line_start + 1}"


def _array_elements(
    stream: IO[bytes], first_line: int, first_column: int, progress: Progress | None
) -> Iterator[tuple[str, Any]]:
    """The elements of a JSON array whose `[` was just read (the next character is at
    `first_line`, `first_column`), each with where it starts.

    The rest of the input is read once, as text: the json module's `raw_decode` finds where
    each element ends, and orjson parses the element itself, so an array element is accepted
    exactly when the same object on a line of its own would be. Bytes that are not UTF-8 are
    carried through (`surrogateescape`) and refused by orjson, at the element they are in."""
    reader = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
    try:
        text = reader.read()
    finally:
        reader.detach()  # the caller closes the stream, not this wrapper
    where = _Positions(text, first_line, first_column)
    decoder = json.JSONDecoder()
    done = 0  # offset up to which progress was reported

    def skip_space(offset: int) -> int:
        end = _JSON_SPACE.match(text, offset)
        return end.end() if end else offset

    def refuse(offset: int, reason: str) -> ImportFailed:
        return ImportFailed(where(offset), f"not valid JSON: {reason}")

    at = skip_space(0)
    if text.startswith("]", at):
        closed = at
    else:
        item = 0
        while True:
            item += 1
            try:
                _value, end = decoder.raw_decode(text, at)
            except json.JSONDecodeError as exc:
                raise refuse(exc.pos, exc.msg) from None
            except RecursionError:  # orjson refuses such nesting on a line too
                raise ImportFailed(f"{where(at)} (item {item})", "nested too deeply") from None
            element = text[at:end].encode("utf-8", "surrogateescape")
            here = f"{where(at)} (item {item})"
            try:
                value = orjson.loads(element)
            except orjson.JSONDecodeError as exc:
                raise ImportFailed(here, f"not valid JSON: {exc.msg}") from None
            if progress is not None:
                # separators are ASCII: characters between elements are bytes
                progress((at - done) + len(element))
                done = end
            yield here, value
            at = skip_space(end)
            if at == len(text):
                raise refuse(at, "the array is not closed with ']'")
            if text[at] == "]":
                closed = at
                break
            if text[at] != ",":
                raise refuse(at, "expected ',' or ']' after an image document")
            at = skip_space(at + 1)
    rest = skip_space(closed + 1)
    if rest != len(text):
        raise refuse(rest, "extra data after the array")
    if progress is not None:
        progress(len(text) - done)


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
    if "id" not in doc:
        doc["id"] = str(uuid.uuid4())
    if not isinstance(doc.get("owner"), str) or not doc["owner"]:
        raise ValueError("owner: an image needs the project that owns it")
    if "created_at" not in doc:
        doc["created_at"] = times.render(now)
    doc.setdefault("updated_at", doc["created_at"])
    # names as Glance stores them: a catalog exported from a real region or from Glance
    # holds names outside the IMS alphabet the API asks for
    canonical = documents.canonical(doc, stored=True)
    if canonical["id"] != canonical["id"].lower():
        raise ValueError("id: use the lower-case form of the UUID")
    return ImageItem(canonical, _members(canonical, members_value))


class Checked:
    """Every object of an input, checked and turned into table rows in a spool of temporary
    files (`store.bulk.Spool`): what `write` stores. Knowing `count` before writing lets the
    write report progress against it."""

    def __init__(self) -> None:
        self.spool = Spool()
        self.where: dict[str, str] = {}  # image id -> where in the input it was given

    @property
    def count(self) -> int:
        return self.spool.count

    def close(self) -> None:
        self.spool.close()

    def __enter__(self) -> Checked:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def check_stream(stream: IO[bytes], progress: Progress | None = None) -> Checked:
    """Read and check every object of `stream`, writing nothing to the database; the first
    bad one raises ImportFailed. `progress` is told the bytes read as they are checked."""
    now = times.now()
    checked = Checked()
    batch: list[ImageItem] = []
    try:
        for where, value in _objects(stream, progress):
            try:
                item = check(value, now)
            except (ValueError, errors.ApiError) as exc:
                raise ImportFailed(where, str(exc)) from None
            image_id = item.doc["id"]
            if image_id in checked.where:
                raise ImportFailed(
                    where, f"id {image_id} was already given on {checked.where[image_id]}"
                )
            checked.where[image_id] = where
            batch.append(item)
            if len(batch) >= BATCH:
                checked.spool.add(batch)
                batch = []
        if batch:
            checked.spool.add(batch)
    except BaseException:
        checked.close()
        raise
    return checked


async def write(store: ImageStore, checked: Checked, progress: Progress | None = None) -> int:
    """Write every checked object in one transaction: all of them or none. `progress` is
    told the images written, batch by batch."""
    try:
        return await store.import_spool(checked.spool, progress=progress)
    except errors.ApiError as exc:
        if exc.spec is errors.IMAGE_ID_EXISTS:
            clash = str(exc.params.get("image_id"))
            raise ImportFailed(
                checked.where.get(clash, "an earlier line"),
                f"image {clash} is already in the database",
            ) from None
        raise


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
