"""commitment_indicators: every `#tag` of a commitment links its indicator (not only the first)

Existing links (commitments.indicator_id) are copied in, so each stays linked.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "commitment_indicators",
        sa.Column("commitment_id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["commitment_id"],
            ["commitments.id"],
            name=op.f("fk_commitment_indicators_commitment_id_commitments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name=op.f("fk_commitment_indicators_indicator_id_indicators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_commitment_indicators_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "commitment_id", "indicator_id", name=op.f("pk_commitment_indicators")
        ),
    )
    with op.batch_alter_table("commitment_indicators", schema=None) as batch_op:
        batch_op.create_index(
            "ix_commitment_indicators_indicator_id", ["indicator_id"], unique=False
        )
    op.execute(
        "INSERT INTO commitment_indicators (commitment_id, indicator_id, team_id, position) "
        "SELECT id, indicator_id, team_id, 0 FROM commitments WHERE indicator_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("commitment_indicators", schema=None) as batch_op:
        batch_op.drop_index("ix_commitment_indicators_indicator_id")
    op.drop_table("commitment_indicators")
