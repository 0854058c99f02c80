"""image_uploads: uploads and stagings in progress, with a heartbeat

An image is `saving` (or `uploading`, while it is staged) only as long as some process is
receiving its bytes. The row names that upload and is renewed while the bytes flow, so that a
process that dies mid-upload leaves a stale row that any replica can recognise and undo.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _text(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "image_uploads",
        sa.Column("image_id", _text(36), nullable=False),
        sa.Column("token", _text(36), nullable=False),
        sa.Column("space", _text(16), nullable=False),
        sa.Column("status_before", _text(20), nullable=False),
        sa.Column("heartbeat_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name="fk_image_uploads_image_id",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("image_id", name="pk_image_uploads"),
    )


def downgrade() -> None:
    op.drop_table("image_uploads")
