"""images.name: a string of at most 255 characters (was 128)

Names written through the API still follow IMS's rule (1-128 characters of its alphabet), but
an imported catalog, exported from a real region or from Glance, may hold any name Glance
stores: up to 255 characters. The column is widened to hold them. On PostgreSQL a wider
`varchar` of the same collation is a change of the catalog only: no row or index is rewritten.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _name_type(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.alter_column(
            "name", type_=_name_type(255), existing_type=_name_type(128), existing_nullable=False
        )


def downgrade() -> None:
    # refused by PostgreSQL while an image holds a longer name, rather than cutting it
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.alter_column(
            "name", type_=_name_type(128), existing_type=_name_type(255), existing_nullable=False
        )
