"""imports.file_sha256: the SHA-256 of the bytes a Slack upload's preview read, so its Import
button writes those bytes or nothing (the file is downloaded again on the click, and a file
changed in Slack since the preview is previewed again instead of imported unseen)

Nullable: imports from the command line and sources, and previews made before this, have none.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("file_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.drop_column("file_sha256")
