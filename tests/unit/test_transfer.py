"""Reading an import: where a bad object is (line, and for a JSON array the column and the
element's number), and the progress the command line's bar is fed."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import orjson
import pytest

from openims.service import transfer
from openims.store.bulk import BATCH


def doc(name: str = "ok", **more: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "owner": "p", "name": name, **more}


def failure(data: bytes) -> str:
    with pytest.raises(transfer.ImportFailed) as caught:
        transfer.check_stream(io.BytesIO(data)).close()
    return str(caught.value)


def position(text: str, needle: str, start: int = 0) -> tuple[int, int]:
    """1-based line and column of `needle` in `text`, computed the slow, obvious way."""
    offset = text.index(needle, start)
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def test_a_bad_element_of_an_indented_array_is_named_by_its_line() -> None:
    too_long = "n" * 256  # names are what Glance stores: at most 255 characters
    docs = [doc(), doc(description="two", tags=["a", "b"]), doc(too_long), doc()]
    text = json.dumps(docs, indent=2)
    line, _column = position(text, f'"{too_long}"')
    # the element starts at the `{` that opens it, three lines above its "name" member
    start_line, start_column = position(text, "{", text.rindex("\n  {", 0, text.index(too_long)))
    assert (start_line, start_column) == (line - 3, 3)
    message = failure(text.encode())
    assert message == (
        f"line {start_line}, column 3 (item 3): Invalid value for 'name': longer than 255 "
        "characters"
    ), message


def test_a_bad_element_of_a_one_line_array_is_named_by_its_column() -> None:
    docs = [doc(description="é" * 30), doc(), doc(min_ram="2048")]
    text = "\n\n  " + orjson.dumps(docs).decode()  # blank lines and spaces before the `[`
    third = orjson.dumps(docs[2]).decode()
    line, column = position(text, third)
    assert line == 3
    message = failure(text.encode())
    assert message.startswith(f"line 3, column {column} (item 3): "), message


def test_a_duplicate_id_in_an_array_names_both_places() -> None:
    first = doc()
    text = "[\n" + ",\n".join(orjson.dumps(d).decode() for d in [first, doc(), first]) + "\n]"
    assert failure(text.encode()) == (
        f"line 4, column 1 (item 3): id {first['id']} was already given on "
        "line 2, column 1 (item 1)"
    )


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b'[\n{"owner": "p"},\n{"owner": "p",}\n]', "line 3, column 15"),  # json's own position
        (b'[{"owner": "p"}\n {"owner": "p"}]', "line 2, column 2"),  # a missing comma
        (b'[{"owner": "p"},\n]', "line 2, column 1"),  # a trailing comma
        (b'[{"owner": "p"}\n\n', "line 3, column 1"),  # never closed
        (b'[{"owner": "p"}] {"owner": "q"}', "line 1, column 18"),
        # what orjson refuses on a line of its own is refused in an array too, at its element
        (b'[{"owner": "p"},\n  {"owner": "p", "x": NaN}]', "line 2, column 3 (item 2)"),
        (b'[{"owner": "p"},\n  {"owner": "p", "x": "\\ud800"}]', "line 2, column 3 (item 2)"),
        (b'[{"owner": "p"},\n  {"owner": "p", "x": "\xff"}]', "line 2, column 3 (item 2)"),
    ],
)
def test_malformed_arrays_are_named_by_line_and_column(data: bytes, where: str) -> None:
    message = failure(data)
    assert message.startswith(f"{where}") and "not valid JSON" in message, message


def test_deep_nesting_in_an_array_is_refused_at_its_element() -> None:
    deep = b'{"owner": "p", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert failure(b'[{"owner": "p"},\n ' + deep + b"]").startswith(
        "line 2, column 2 (item 2): nested too deeply"
    )
    assert failure(deep + b"\n").startswith("line 1: not valid JSON")  # as a line: orjson's


def test_an_array_reads_like_the_same_lines() -> None:
    docs = [doc(), doc(description="ünïcode", tags=["a"]), doc(visibility="shared", members=[])]
    as_lines = b"\n".join(orjson.dumps(d) for d in docs) + b"\n"
    as_array = json.dumps(docs, indent=1, ensure_ascii=False).encode()
    with (
        transfer.check_stream(io.BytesIO(as_lines)) as lines,
        transfer.check_stream(io.BytesIO(as_array)) as array,
    ):
        assert (lines.count, array.count) == (3, 3)
        tables = range(len(lines.spool.files))  # every row of every table, in order
        assert [list(lines.spool.batches(t)) for t in tables] == [
            list(array.spool.batches(t)) for t in tables
        ]
    with transfer.check_stream(io.BytesIO(b" [ ] \n")) as empty:
        assert empty.count == 0


@pytest.mark.parametrize(
    "data",
    [
        b"\n \n" + b"\n".join(orjson.dumps(doc(f"n{i}")) for i in range(50)) + b"\n\n",
        b"\n  " + orjson.dumps([doc("é" * i) for i in range(50)]) + b"  \n",
        json.dumps([doc("€" * i) for i in range(50)], indent=2, ensure_ascii=False).encode(),
    ],
    ids=["lines", "one-line-array", "indented-array"],
)
def test_checking_reports_every_byte_read_as_it_goes(data: bytes) -> None:
    """The bar of `openims import` advances with these calls: one per object, adding up to
    the size of the input (so a bar sized by the file's length ends at 100%)."""
    calls: list[int] = []
    done_when_yielded: list[int] = []
    objects = transfer._objects(io.BytesIO(data), calls.append)
    for _where, _value in objects:
        done_when_yielded.append(sum(calls))
    assert sum(calls) == len(data)
    assert len(calls) >= 50
    # progress grows while reading, not all at the end
    assert done_when_yielded[0] < len(data) / 10
    assert done_when_yielded == sorted(done_when_yielded)
    assert len(set(done_when_yielded)) == 50


def _long_input(count: int, **at: dict[str, Any]) -> tuple[list[dict[str, Any]], bytes]:
    """`count` documents as JSON lines, the one on line N replaced by `at[f"line{N}"]`."""
    docs = [doc(f"n{i}", created_at="2020-01-02T03:04:05Z") for i in range(count)]
    for key, replacement in at.items():
        docs[int(key.removeprefix("line")) - 1] = replacement
    return docs, b"".join(orjson.dumps(d) + b"\n" for d in docs)


# past the batches checked in the importing process: these lines go to worker processes
_FAR = (transfer._INLINE_BATCHES + 3) * BATCH


def _failures(data: bytes) -> tuple[str, str]:
    """The message of a check in worker processes, and of one in this process alone."""
    found = []
    for processes in (2, 1):
        with pytest.raises(transfer.ImportFailed) as caught:
            transfer.check_stream(io.BytesIO(data), processes=processes).close()
        found.append(str(caught.value))
    return found[0], found[1]


def test_worker_processes_check_as_one_process_does() -> None:
    docs, data = _long_input(_FAR + 123)
    told: dict[int, list[int]] = {1: [], 2: []}
    with (
        transfer.check_stream(
            io.BytesIO(b"\n" + data + b"\n\n"), told[2].append, processes=2
        ) as parallel,
        transfer.check_stream(io.BytesIO(data), told[1].append, processes=1) as alone,
    ):
        # the bar moves object by object either way, and ends at the input's length
        assert sum(told[2]) == len(data) + 3 and sum(told[1]) == len(data)
        assert len(told[2]) >= len(docs) and len(told[1]) >= len(docs)
        assert parallel.count == alone.count == len(docs)
        assert parallel.where[docs[-1]["id"]] == f"line {len(docs) + 1}"
        assert alone.where[docs[-1]["id"]] == f"line {len(docs)}"
        for table in range(3):  # the members' table holds the time of each check
            assert list(parallel.spool.batches(table)) == list(alone.spool.batches(table))
        assert parallel.spool.sizes == alone.spool.sizes


def test_worker_processes_name_the_first_bad_line_and_the_first_repeated_id() -> None:
    bad_line = _FAR - 7
    first = doc("first")
    # a bad line far into the input, after the one-process batches
    _, data = _long_input(_FAR + 10, **{f"line{bad_line}": {"owner": "p", "min_ram": "x"}})
    parallel, alone = _failures(data)
    assert parallel == alone
    assert parallel.startswith(f"line {bad_line}: "), parallel
    # an id given again in a later batch, before a bad line in the same batch: the id first
    _, data = _long_input(
        _FAR + 10,
        line3=first,
        **{f"line{_FAR - 2}": first, f"line{_FAR - 1}": {"owner": "p", "min_ram": "x"}},
    )
    parallel, alone = _failures(data)
    assert parallel == alone == f"line {_FAR - 2}: id {first['id']} was already given on line 3"
    # and a bad line before the repeated id: the bad line
    _, data = _long_input(
        _FAR + 10,
        line3=first,
        **{f"line{_FAR - 3}": {"owner": "p", "min_ram": "x"}, f"line{_FAR - 2}": first},
    )
    parallel, alone = _failures(data)
    assert parallel == alone and parallel.startswith(f"line {_FAR - 3}: "), parallel
    # the last line not JSON at all
    _, data = _long_input(_FAR + 10)
    parallel, alone = _failures(data + b"{not json\n")
    assert parallel == alone and parallel.startswith(f"line {_FAR + 11}: not valid JSON")


def test_worker_processes_keep_an_arrays_order_too() -> None:
    """The input's own error (an array never closed) comes after a bad element before it."""
    docs, _ = _long_input(_FAR + 10, **{f"line{_FAR - 5}": {"owner": "p", "min_ram": "x"}})
    data = b"[\n" + b",\n".join(orjson.dumps(d) for d in docs) + b"\n"
    parallel, alone = _failures(data)
    assert parallel == alone
    assert parallel.startswith(f"line {_FAR - 4}, column 1 (item {_FAR - 5}): "), parallel
