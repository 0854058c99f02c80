"""console_sign_outs: console sessions signed out before they expire

A console session lives in a signed cookie; signing out records its id here, so that a copy
of the cookie is refused by every process and replica, not only by the one that served the
sign-out (docs/console.md). A row is pruned once the session would have expired anyway.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sign_outs",
        sa.Column(
            "session_id",
            sa.String(64).with_variant(sa.String(64, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name="pk_console_sign_outs"),
    )


def downgrade() -> None:
    op.drop_table("console_sign_outs")
