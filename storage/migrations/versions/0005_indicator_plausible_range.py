"""indicator plausible range: the catalog's `min` and `max` for an indicator's values

Nullable, so existing indicators keep accepting what they accepted (apart from the range every
indicator has: finite, not below zero unless `min` says so, and under a trillion).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("indicators") as batch:
        batch.add_column(sa.Column("plausible_min", sa.Float(), nullable=True))
        batch.add_column(sa.Column("plausible_max", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("indicators") as batch:
        batch.drop_column("plausible_max")
        batch.drop_column("plausible_min")
