"""per-day rollup of the fleet history (daily_counts) and the views over it

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 20:30:00

Creates ``daily_counts``, ``rollup_members`` and ``rollup_progress`` (models/rollup.py), folds the existing
log into them, and re-creates ``daily_fleet`` over the rollup with ``report_calendar`` under it. The
writer keeps the rollup up to date from here on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models import reporting, rollup

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "daily_counts",
        sa.Column("subject", sa.String(32), nullable=False, comment="machines | clusters"),
        sa.Column("dimension", sa.String(32), nullable=False,
                  comment="total | connected | talos_version | ..."),
        sa.Column("day", sa.Date(), nullable=False, comment="UTC day of the versions counted"),
        sa.Column("grp", sa.Text(), nullable=False,
                  comment="the cluster of a machine ('' for clusters, or free)"),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False,
                  comment="versions entering (value, grp) that day minus versions leaving it"),
        sa.PrimaryKeyConstraint("subject", "dimension", "day", "grp", "value", name="pk_daily_counts"),
    )
    op.create_table(
        "rollup_members",
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False,
                  comment="JSON: last values per kind and the last version's counts"),
        sa.PrimaryKeyConstraint("subject", "id", name="pk_rollup_members"),
    )
    op.create_table(
        "rollup_progress",
        sa.Column("singleton", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", sa.BigInteger(), server_default="0", nullable=False,
                  comment="the log is folded into daily_counts up to this revision"),
        sa.CheckConstraint("singleton = 1", name="ck_rollup_progress_one_row"),
        sa.PrimaryKeyConstraint("singleton", name="pk_rollup_progress"),
    )
    bind = op.get_bind()
    bind.execute(sa.text("INSERT INTO rollup_progress (singleton, revision) VALUES (1, 0)"))
    rollup.fold(bind)
    op.execute(sa.text("DROP VIEW IF EXISTS daily_fleet"))
    for statement in rollup.view_statements(bind.dialect.name, legacy=True):  # text until 0008
        op.execute(sa.text(statement))
    op.execute(sa.text("UPDATE meta SET schema_version = 5 WHERE singleton = 1"))


def downgrade() -> None:
    for statement in rollup.drop_statements():
        op.execute(sa.text(statement))
    op.execute(sa.text(f"CREATE VIEW daily_fleet AS\n{reporting.daily_fleet_sql(op.get_bind().dialect.name)}"))
    op.drop_table("rollup_progress")
    op.drop_table("rollup_members")
    op.drop_table("daily_counts")
    op.execute(sa.text("UPDATE meta SET schema_version = 4 WHERE singleton = 1"))
