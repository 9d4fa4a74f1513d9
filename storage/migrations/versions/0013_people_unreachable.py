"""people.unreachable_since, people.unreachable_reason: Slack refused a direct message to this
person (`user_disabled`: their account was deactivated; `user_not_found`: it is gone) at that
time, so the scheduler plans no reminders for them until Slack says they are active again.

Nullable: everyone stored before this could be reached as far as we knew.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("unreachable_since", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("unreachable_reason", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("unreachable_reason")
        batch_op.drop_column("unreachable_since")
