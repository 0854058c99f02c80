"""What SQLite's planner cannot know about a sorted list page, found out and written into the
statement.

A page sorted by a column other than `created_at` has two plans: read the column's index in
order and stop at the page's end, or read the matching rows by a filter's index and sort
them. The first is right when matches are many, the second when they are few. PostgreSQL
chooses from its statistics of common values. SQLite's stock build keeps no such statistics
(no STAT4): it knows that `__imagetype` has four values, not that `gold` is 175 images of a
million, and reads a million rows in name order to find the public ones (2 s), or sorts the
39,000 images shared with a project when 20 of them in name order were a few hundred rows
away (0.2 s). So, for a page with filters or the shared images' member join (without them
most of the catalog matches, as SQLite assumes), the store counts the matches first, up to
`FEW` (an index read that stops there), and then:

- few: the sort columns are written `+column`, which no index serves, so SQLite reads the
  matches by the filter's index and sorts at most `FEW` rows;
- many, with the caller's member rows joined (the shared tab): the join is written so that it
  can only run from the images side, so SQLite reads the sort index in order and looks each
  image's member row up, rather than sorting every member row of the caller.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from openims.store import driver

# at most this many matching rows are sorted rather than read in order off the sort's index
FEW = 2000


def unindexed(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """`column` written `+table.column`: the same value, which SQLite uses no index for."""
    assert isinstance(column, sa.Column) and column.table is not None
    return sa.literal_column(f"+{column.table.name}.{column.name}", type_=column.type)


async def few_matches(
    conn: AsyncConnection,
    compiler: driver.Compiler,
    source: sa.FromClause,
    conds: list[sa.ColumnElement[bool]],
) -> bool:
    """True when at most FEW rows of `source` meet `conds` (read no further than FEW + 1)."""
    matches = sa.select(sa.literal(1)).select_from(source).where(*conds).limit(FEW + 1)
    count = sa.select(sa.func.count()).select_from(matches.subquery())
    rows = await driver.fetch(conn, compiler, count)
    return int(rows[0][0]) <= FEW
