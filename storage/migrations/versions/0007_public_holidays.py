"""public holidays by default: each team's calendar country and the public holidays turned off

Existing teams get the default: the public holidays of their time zone's country (US federal
holidays for a US zone), none turned off.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("teams") as batch:
        batch.add_column(sa.Column("holiday_country", sa.String(length=10), nullable=True))
        batch.add_column(
            sa.Column("holidays_off", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("teams") as batch:
        batch.drop_column("holidays_off")
        batch.drop_column("holiday_country")
