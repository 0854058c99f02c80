"""images: the console sorts by every column; os_version a sort key, five more indexes

The console sorts its list by every column: name, status, OS (`__os_version`), type, disk
format, size and created. Sort columns are NOT NULL so that keyset paging compares row values
directly: an image without `__os_version` now stores the empty string (its SORT_FILL), which
sorts first in ascending order. Stored documents are not touched: they keep the attribute
absent.

Name, status, type and created had an index (column, created_at, id); OS, disk format and
size get one, so that a sorted page reads an index in order at any catalog size rather than
sorting every matching row (half a second at 1M images). The OS index also serves the
`__os_version` filter of `GET /v2/cloudimages`, which read the whole table without it. The
shared tab sorted by type or by status gets (visibility, column, created_at, id): over shared
images both are all but constant (only an active image is shared, and its type is `shared`),
so they lie in one run of the column's own index far from where a scan starts.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_TYPE = sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql")
_SORTED = ("os_version", "disk_format", "size")
# the shared tab by type or status: both all but constant over shared images, whose run in
# the column's own index starts far from where a scan does
_SHARED_BY = ("imagetype", "status")


def upgrade() -> None:
    op.execute("UPDATE images SET os_version = '' WHERE os_version IS NULL")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.alter_column("os_version", existing_type=_TYPE, nullable=False)
        for column in _SORTED:
            batch_op.create_index(
                f"ix_images_{column}_created_at_id", [column, "created_at", "id"], unique=False
            )
        for column in _SHARED_BY:
            batch_op.create_index(
                f"ix_images_visibility_{column}_created_at_id",
                ["visibility", column, "created_at", "id"],
                unique=False,
            )


def downgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        for column in _SHARED_BY:
            batch_op.drop_index(f"ix_images_visibility_{column}_created_at_id")
        for column in _SORTED:
            batch_op.drop_index(f"ix_images_{column}_created_at_id")
        batch_op.alter_column("os_version", existing_type=_TYPE, nullable=True)
    op.execute("UPDATE images SET os_version = NULL WHERE os_version = ''")
