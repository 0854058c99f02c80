"""`openims import` and `openims export`: image documents as JSON lines (or one JSON array).

Each object is a document as `GET /v2/images/{id}` returns it, optionally with
`"members": [{"member_id": "...", "status": "accepted"}]`. Import checks every object before it
writes anything (a bad one is reported by its line number; an array element by the line and
column where it starts, and its number), then writes all of them in one transaction; export
writes the stored documents back, so export → import → export gives the same bytes.
"""

from __future__ import annotations

import gc
import io
import json
import multiprocessing
import os
import re
import signal
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import IO, Any, NamedTuple

import orjson

from openims import errors
from openims.domain import access, documents, times
from openims.domain.documents import ImageItem
from openims.domain.sharing import Member
from openims.store.bulk import BATCH, Encoded, Spool, encode
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


def _objects(stream: IO[bytes], progress: Progress | None = None) -> Iterator[tuple[str, bytes]]:
    """(where, bytes) for each object: JSON lines, or one JSON array, not yet parsed
    (`_check_batch` does that, where the object is checked). `progress` is told the bytes of
    input each object took (blank lines and separators included)."""
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
        if raw.isspace():  # a blank line (isspace stops at the first other byte: no copy)
            continue
        yield f"line {number}", raw
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
) -> Iterator[tuple[str, bytes]]:
    """The elements of a JSON array whose `[` was just read (the next character is at
    `first_line`, `first_column`), each with where it starts, as bytes.

    The rest of the input is read once, as text: the json module's `raw_decode` finds where
    each element ends, and orjson parses the element itself (`_check_batch`), so an array
    element is accepted exactly when the same object on a line of its own would be. Bytes
    that are not UTF-8 are carried through (`surrogateescape`) and refused by orjson, at the
    element they are in."""
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
            if progress is not None:
                # separators are ASCII: characters between elements are bytes
                progress((at - done) + len(element))
                done = end
            yield here, element
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


def _prepared(value: Any, now: int) -> tuple[dict[str, Any], Any]:
    """An import object as the document `documents.canonical` takes, and its members."""
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
    return doc, members_value


def _item(canonical: dict[str, Any], members_value: Any) -> ImageItem:
    if canonical["id"] != canonical["id"].lower():
        raise ValueError("id: use the lower-case form of the UUID")
    return ImageItem(canonical, _members(canonical, members_value))


def check(value: Any, now: int) -> ImageItem:
    """One import object as a canonical document with its members; ValueError or ApiError
    says what is wrong. Values are checked as a catalog holds them (`stored`): names as
    Glance stores them, since a catalog exported from a real region or from Glance holds
    names outside the IMS alphabet the API asks for."""
    doc, members_value = _prepared(value, now)
    return _item(documents.canonical(doc, stored=True), members_value)


def check_many(values: list[Any], now: int) -> list[ImageItem]:
    """`[check(value, now) for value in values]`, with the documents made canonical together
    (`documents.canonical_many`: most of an import's work). When one is bad, what is raised
    is not necessarily about the first bad one: `_check_batch` asks `check` for that."""
    prepared = [_prepared(value, now) for value in values]
    docs = documents.canonical_many([doc for doc, _ in prepared], stored=True)
    return [_item(doc, members) for doc, (_, members) in zip(docs, prepared, strict=True)]


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


class _Result(NamedTuple):
    """What checking a batch of objects found: the ids of the objects checked, in order, up
    to the first bad one; that one's index in the batch and what is wrong with it; and the
    rows of the batch when every object of it is good."""

    ids: list[str]
    error: tuple[int, str] | None
    rows: Encoded | None


def _check_batch(raws: list[bytes], now: int, stamp: int) -> _Result:
    """Parse and check a batch of objects and make their rows (with `stamp`, the spool's):
    what a worker process does for `check_stream`. Pure: whether the ids are unique across
    batches is decided by the caller, in input order."""
    try:
        items = check_many(list(map(orjson.loads, raws)), now)
    except Exception:  # checked one by one, to find the first bad one
        return _check_each(raws, now, stamp)
    return _Result([item.doc["id"] for item in items], None, encode(items, stamp))


def _check_each(raws: list[bytes], now: int, stamp: int) -> _Result:
    """`_check_batch` of a batch with a bad object: each object checked in turn up to it."""
    ids: list[str] = []
    items: list[ImageItem] = []
    for n, raw in enumerate(raws):
        try:
            item = check(orjson.loads(raw), now)
        except orjson.JSONDecodeError as exc:
            return _Result(ids, (n, f"not valid JSON: {exc.msg}"), None)
        except (ValueError, errors.ApiError) as exc:
            return _Result(ids, (n, str(exc)), None)
        ids.append(item.doc["id"])
        items.append(item)
    return _Result(ids, None, encode(items, stamp))


def _worker_start() -> None:
    """Ctrl-C is for the importing process, which stops the workers: a worker interrupted
    on its own would print a traceback of its own.

    The cyclic garbage collector is off in a worker: what a batch makes (parsed objects,
    documents, rows) holds no reference cycles and is freed by reference counting when the
    batch is done, so the collector only walked it, again and again as a batch allocated:
    a fifth of the check's time (19 µs per object instead of 24, docs/benchmarks.md,
    "Import"). A worker lives as long as the import."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.disable()


# An input of up to this many batches is checked in this process: starting the worker
# processes (each imports the domain) costs more than checking a few thousand objects.
_INLINE_BATCHES = 8
# Batches handed to each worker process ahead of the one being taken back: enough to keep
# them busy, few enough to bound the memory the results waiting in line take.
_AHEAD = 4


def workers() -> int:
    """Worker processes to check an import with: one per core this process may run on (so
    `taskset` limits them too)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_stream(
    stream: IO[bytes], progress: Progress | None = None, *, processes: int | None = None
) -> Checked:
    """Read and check every object of `stream`, writing nothing to the database; the first
    bad one raises ImportFailed. `progress` is told the bytes read as they are checked.

    Checking an object (parsing it, checking every attribute, making its rows) is most of an
    import's work on the client, so a long input is checked BATCH objects at a time in
    `processes` worker processes (default: `workers()`), while this one reads the input and
    takes the results back in input order: the first bad object, and the first id given
    twice, are the ones a check of one object after another finds."""
    now = times.now()
    checked = Checked()
    stamp = checked.spool.stamp
    count = workers() if processes is None else processes
    pool: ProcessPoolExecutor | None = None
    waiting: deque[tuple[list[str], list[int], Future[_Result]]] = deque()
    given = checked.where

    def settle(wheres: list[str], sizes: list[int], result: _Result) -> None:
        for where, image_id in zip(wheres, result.ids, strict=False):
            if image_id in given:
                raise ImportFailed(where, f"id {image_id} was already given on {given[image_id]}")
            given[image_id] = where
        if result.error is not None:
            index, reason = result.error
            raise ImportFailed(wheres[index], reason)
        assert result.rows is not None
        if result.rows.images:
            checked.spool.add_encoded(result.rows)
        if progress is not None:  # object by object, as the bar moved when one process checked
            for size in sizes:
                progress(size)

    batches = 0

    def submit(raws: list[bytes], wheres: list[str], sizes: list[int]) -> None:
        nonlocal pool, batches
        batches += 1
        if pool is None and (count <= 1 or batches <= _INLINE_BATCHES):
            settle(wheres, sizes, _check_batch(raws, now, stamp))
            return
        if pool is None:
            # spawned, not forked: this process runs an event loop and may hold driver
            # threads; a worker needs none of it
            pool = ProcessPoolExecutor(
                count, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_start
            )
        waiting.append((wheres, sizes, pool.submit(_check_batch, raws, now, stamp)))
        while len(waiting) > count * _AHEAD:
            settle_next()

    def settle_next() -> None:
        wheres, sizes, future = waiting.popleft()
        settle(wheres, sizes, future.result())

    try:
        raws: list[bytes] = []
        wheres: list[str] = []
        sizes: list[int] = []  # bytes of input each object took
        size = 0  # read since the last object

        def read(amount: int) -> None:
            nonlocal size
            size += amount

        unreadable: ImportFailed | None = None  # the input's own error, after the objects before it
        objects = _objects(stream, read)
        while True:
            try:
                where, raw = next(objects)
            except StopIteration:
                break
            except ImportFailed as exc:
                unreadable = exc
                break
            raws.append(raw)
            wheres.append(where)
            sizes.append(size)
            size = 0
            if len(raws) >= BATCH:
                submit(raws, wheres, sizes)
                raws, wheres, sizes = [], [], []
        if raws:
            submit(raws, wheres, sizes)
        while waiting:
            settle_next()
        if unreadable is not None:
            raise unreadable
        if size and progress is not None:  # what followed the last object
            progress(size)
    except BaseException:
        for _wheres, _sizes, future in waiting:
            future.cancel()
        checked.close()
        raise
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
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
