"""indicator_values is keyed by (indicator_id, period, geography), and team_id is a plain column

A value's identity always was its indicator, period and place (the unique constraint every
write's ON CONFLICT names). The surrogate `id` (never read), its own index, the index on
`team_id` and the foreign key from `team_id` to `teams` made every stored value four index
entries and two foreign-key checks; a 1M-row import spent more time on them than on the values
(bench/indicator_import.py: PostgreSQL's COPY of 1M rows 10.7 s with them, 6.5 s without).

- The key is the primary key; on SQLite the table is WITHOUT ROWID (one b-tree: a lookup by
  indicator reads the values themselves, not an index and then the table).
- `team_id` stays (every table carries it; `delete_team` and `adopt_unconnected_team` go by
  it), without a foreign key: the indicator's foreign key (ON DELETE CASCADE) already ties a
  value to a team that exists, and `delete_team` deletes values by team before the team.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-09 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "indicator_values"
KEY = ["indicator_id", "period", "geography"]


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _value_columns() -> list[sa.schema.SchemaItem]:
    """The columns both shapes of the table have, and the indicator's foreign key."""
    return [
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("geography", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name=op.f("fk_indicator_values_indicator_id_indicators"),
            ondelete="CASCADE",
        ),
    ]


def _copy_into(target: str) -> None:
    """Every value into `target`, in the key's order; then `target` takes the table's name."""
    columns = "team_id, indicator_id, period, period_start, geography, value, updated_at"
    op.execute(
        f"INSERT INTO {target} ({columns}) "  # noqa: S608
        f"SELECT {columns} FROM {TABLE} ORDER BY indicator_id, period, geography"
    )
    op.drop_table(TABLE)
    op.rename_table(target, TABLE)


def upgrade() -> None:
    if _sqlite():
        # SQLite cannot alter a primary key: the table is made again, values copied in order.
        op.create_table(
            "indicator_values_new",
            *_value_columns(),
            sa.PrimaryKeyConstraint(*KEY, name=op.f("pk_indicator_values")),
            sqlite_with_rowid=False,
        )
        _copy_into("indicator_values_new")
        return
    op.drop_index(op.f("ix_indicator_values_team_id"), table_name=TABLE)
    op.drop_constraint(op.f("fk_indicator_values_team_id_teams"), TABLE, type_="foreignkey")
    op.drop_constraint(op.f("pk_indicator_values"), TABLE, type_="primary")
    op.drop_column(TABLE, "id")
    op.drop_constraint(
        op.f("uq_indicator_values_indicator_id_period_geography"), TABLE, type_="unique"
    )
    op.create_primary_key(op.f("pk_indicator_values"), TABLE, KEY)


def downgrade() -> None:
    if _sqlite():
        op.create_table(
            "indicator_values_old",
            sa.Column("id", sa.Integer(), nullable=False),
            *_value_columns(),
            sa.ForeignKeyConstraint(
                ["team_id"],
                ["teams.id"],
                name=op.f("fk_indicator_values_team_id_teams"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator_values")),
            sa.UniqueConstraint(
                *KEY, name=op.f("uq_indicator_values_indicator_id_period_geography")
            ),
        )
        _copy_into("indicator_values_old")
    else:
        op.drop_constraint(op.f("pk_indicator_values"), TABLE, type_="primary")
        op.create_unique_constraint(
            op.f("uq_indicator_values_indicator_id_period_geography"), TABLE, KEY
        )
        op.execute(f"ALTER TABLE {TABLE} ADD COLUMN id SERIAL")
        op.create_primary_key(op.f("pk_indicator_values"), TABLE, ["id"])
        op.create_foreign_key(
            op.f("fk_indicator_values_team_id_teams"),
            TABLE,
            "teams",
            ["team_id"],
            ["id"],
            ondelete="CASCADE",
        )
    op.create_index(op.f("ix_indicator_values_team_id"), TABLE, ["team_id"], unique=False)
