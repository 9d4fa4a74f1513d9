"""indicator source: which catalog source (`import_sources` with a `source_url`) refreshes an
indicator, so the scheduler fetches that source when one of its indicators' next period is due

Nullable: indicators loaded by hand or uploaded are fed by no source.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("indicators", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_indicators_source_id"), ["source_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_indicators_source_id_import_sources"),
            "import_sources",
            ["source_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("indicators", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_indicators_source_id_import_sources"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_indicators_source_id"))
        batch_op.drop_column("source_id")
