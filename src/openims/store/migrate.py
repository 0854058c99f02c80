"""Schema migrations (Alembic), run by `openims db upgrade` and at `openims serve` start.

Several servers may start at once against one database, so migrations take a lock first:
a transaction-scoped advisory lock on PostgreSQL, `BEGIN IMMEDIATE` on SQLite. The second
server then finds the schema already at head and does nothing.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


class Refused(Exception):
    """A migration that found data it cannot carry over, and changed nothing: the message
    says what to do first (`openims` prints it as one line)."""


def config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["database_url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision`. Blocking: call it from a thread if an event
    loop is running."""
    command.upgrade(config(url), revision)
