"""project_quotas: the limits the operator set for one project

A project's image count and image bytes are limited by the settings' defaults
(`OPENIMS_IMAGE_QUOTA`, `OPENIMS_IMAGE_BYTES_QUOTA`) unless a row here says otherwise for it
(`openims quota set`); a NULL keeps the default (docs/quotas.md).

Also an index of a project's jobs by age, for the console's list of a project's latest jobs.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "project_quotas",
        sa.Column(
            "project_id",
            sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("images", sa.Integer(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("project_id", name="pk_project_quotas"),
    )
    op.create_index("ix_jobs_project_id_created_at", "jobs", ["project_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_project_id_created_at", table_name="jobs")
    op.drop_table("project_quotas")
