"""retention horizon in meta

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 17:55:00

``omni-readmodel prune`` records the revision below which history was removed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("meta") as batch_op:
        batch_op.add_column(sa.Column(
            "horizon_revision", sa.BigInteger(), server_default="0", nullable=False,
            comment="retention horizon: history before this revision was pruned (models/retention.py)"))


def downgrade() -> None:
    with op.batch_alter_table("meta") as batch_op:
        batch_op.drop_column("horizon_revision")
