"""image tables: B-tree indexes without deduplication (PostgreSQL)

Every B-tree index of images, image_tags and image_members ends in a key that makes its
entries unique (an image id, with the tag or the member where the row has one), so
PostgreSQL's deduplication of equal entries, on by default, never finds any: it only costs
a pass over the page at each split and at each index build. Turned off, an import builds the
1M catalog's images indexes 6-9% faster. The setting changes no entry: the indexes are not
rebuilt. SQLite has no such thing.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_TABLES = ("images", "image_tags", "image_members")


def _indexes() -> list[str]:
    """The non-unique B-tree indexes of the image tables (the properties' value index is a
    hash index; primary keys are unique, and PostgreSQL does not deduplicate those)."""
    tables = ", ".join(f"'{table}'::regclass" for table in _TABLES)
    found = op.get_bind().exec_driver_sql(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "  # noqa: S608
        f"JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid IN ({tables}) "
        "AND NOT i.indisunique AND a.amname = 'btree' ORDER BY c.relname"
    )
    return [str(row[0]) for row in found]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in _indexes():
        op.execute(f'ALTER INDEX "{name}" SET (deduplicate_items = off)')


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in _indexes():
        op.execute(f'ALTER INDEX "{name}" RESET (deduplicate_items)')
