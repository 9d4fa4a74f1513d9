"""jobs: the durable work queue between the process that acknowledges Slack and the workers

Also each commitment event's request (the Slack request that made the change) and the answer
its author got, so that a job run again after a crash changes nothing twice.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_key", sa.String(length=300), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=True),
        sa.Column("listener", sa.String(length=100), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "waiting",
                "working",
                "done",
                "failed",
                name="jobstatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("journal", sa.JSON(), nullable=False),
        sa.Column("ack", sa.JSON(), nullable=True),
        sa.Column("ack_state", sa.String(length=10), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("request_key", name=op.f("uq_jobs_request_key")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_status_not_before", ["status", "not_before"], unique=False)
    with op.batch_alter_table("commitment_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("answer", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("commitment_events", schema=None) as batch_op:
        batch_op.drop_column("answer")
        batch_op.drop_column("request")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_status_not_before")
    op.drop_table("jobs")
