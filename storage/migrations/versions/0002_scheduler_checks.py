"""scheduler: when to look next at each commitment, indicator and schedule

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = {
    "commitments": "next_check_at",
    "indicators": "next_check_at",
    "schedules": "next_run_at",
}


def upgrade() -> None:
    for table, column in TABLES.items():
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column(column, sa.DateTime(timezone=True), nullable=True))
            batch_op.create_index(f"ix_{table}_{column}", [column], unique=False)
    # Open commitments made before this version are looked at on the first pass.
    op.execute("UPDATE commitments SET next_check_at = created_at WHERE status = 'open'")


def downgrade() -> None:
    for table, column in TABLES.items():
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_index(f"ix_{table}_{column}")
            batch_op.drop_column(column)
