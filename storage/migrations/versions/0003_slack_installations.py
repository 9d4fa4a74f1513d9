"""slack installations: slack_sdk's installation and OAuth state tables (OAuth mode)

The tables are built by slack_sdk's own store classes, so they are exactly what
`SQLAlchemyInstallationStore` and `SQLAlchemyOAuthStateStore` read and write (names, columns,
index). They are created in every database, used only when SLACK_CLIENT_ID is set.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tables() -> sa.MetaData:
    metadata = sa.MetaData()
    store = SQLAlchemyInstallationStore
    store.build_installations_table(metadata, store.default_installations_table_name)
    store.build_bots_table(metadata, store.default_bots_table_name)
    states = SQLAlchemyOAuthStateStore
    states.build_oauth_states_table(metadata, states.default_table_name)
    return metadata


def upgrade() -> None:
    _tables().create_all(op.get_bind())


def downgrade() -> None:
    _tables().drop_all(op.get_bind())
