"""jobs: IMS asynchronous jobs, claimed by workers under a lease

A job is submitted as a row (`INIT`), claimed by one worker of any replica (`RUNNING`, with a
lease token and the moment its lease lapses, renewed while it runs) and ended by that worker
(`SUCCESS` or `FAIL`). A worker that dies leaves a lapsed lease, which any replica recognises:
the job is run again from the start, or failed after too many attempts (docs/jobs.md).
`placement` names the stores of the server that accepted the job: only a server with the same
stores claims it.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _text(length: int | None = None) -> sa.types.TypeEngine[str]:
    if length is None:
        return sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", _text(32), nullable=False),
        sa.Column("project_id", _text(255), nullable=False),
        sa.Column("job_type", _text(64), nullable=False),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("params", _text(), nullable=False),
        sa.Column("entities", _text(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_code", _text(32), nullable=True),
        sa.Column("fail_reason", _text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("begin_at", sa.Float(), nullable=True),
        sa.Column("end_at", sa.Float(), nullable=True),
        sa.Column("lease_token", _text(32), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.Column("placement", _text(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_status_created_at", "jobs", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_status_created_at", table_name="jobs")
    op.drop_table("jobs")
