"""image_properties: index values by hash on PostgreSQL, so a value may be long

A B-tree entry on PostgreSQL may not exceed 2704 bytes, so the (name, value, image_id) index
capped custom property values at 255 characters. Glance keeps property values as text of any
length; a hash index (PostgreSQL) answers the same equality filters with no such limit.
SQLite has no entry limit and keeps a B-tree on the value.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("image_properties", schema=None) as batch_op:
        batch_op.drop_index("ix_image_properties_name_value_image_id")
        batch_op.create_index(
            "ix_image_properties_value", ["value"], unique=False, postgresql_using="hash"
        )


def downgrade() -> None:
    with op.batch_alter_table("image_properties", schema=None) as batch_op:
        batch_op.drop_index("ix_image_properties_value")
        batch_op.create_index(
            "ix_image_properties_name_value_image_id", ["name", "value", "image_id"], unique=False
        )
