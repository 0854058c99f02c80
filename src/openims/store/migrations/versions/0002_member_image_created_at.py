"""image_members.image_created_at: the shared image's creation time, kept beside each member row

A tenant's "images shared with me, accepted / pending / rejected" page is ordered by the
images' creation time. With that time in the member row, one index on (member_id, status,
image_created_at, image_id) yields the page in order, so its cost does not grow with how many
images are shared with the tenant. An image's created_at never changes, so the copy cannot
go stale.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("image_members", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("image_created_at", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.execute(
        "UPDATE image_members SET image_created_at = "
        "(SELECT images.created_at FROM images WHERE images.id = image_members.image_id)"
    )
    with op.batch_alter_table("image_members", schema=None) as batch_op:
        batch_op.alter_column("image_created_at", server_default=None)
        batch_op.create_index(
            "ix_image_members_member_id_status_image_created_at_image_id",
            ["member_id", "status", "image_created_at", "image_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("image_members", schema=None) as batch_op:
        batch_op.drop_index("ix_image_members_member_id_status_image_created_at_image_id")
        batch_op.drop_column("image_created_at")
