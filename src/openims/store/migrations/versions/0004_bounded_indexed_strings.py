"""images: `support_kvm` and `system_cmkid` are strings of at most 255 characters

Both columns are indexed, and the registry bounds their values to 255 characters (a B-tree
entry on PostgreSQL may not exceed 2704 bytes); the first migration had created them as
unbounded text, so the schema and `store/tables.py` disagreed. Values already stored are
within the bound: every write checks it.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_COLUMNS = ("support_kvm", "system_cmkid")


def upgrade() -> None:
    bounded = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")
    with op.batch_alter_table("images", schema=None) as batch_op:
        for column in _COLUMNS:
            batch_op.alter_column(column, type_=bounded, existing_nullable=True)


def downgrade() -> None:
    text = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
    with op.batch_alter_table("images", schema=None) as batch_op:
        for column in _COLUMNS:
            batch_op.alter_column(column, type_=text, existing_nullable=True)
