"""reporting views (current_*, history_*, calendar, daily_fleet)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 17:20:00

The views are generated from ``models.reporting`` (the declaration next to the kind catalog). A later
change to that declaration ships as a new migration that drops and re-creates them the same way.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models import reporting

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in reporting.statements(dialect, compact=False):  # over the events table of 0001-0005
        op.execute(sa.text(statement))


def downgrade() -> None:
    for statement in reporting.drop_statements():
        op.execute(sa.text(statement))
