"""kind revisions: the last revision that changed each (namespace, type)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 16:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kind_revisions",
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column(
            "revision",
            sa.BigInteger(),
            nullable=False,
            comment="last revision that changed a row (or a rendered document) of this kind",
        ),
        sa.PrimaryKeyConstraint("namespace", "type", name=op.f("pk_kind_revisions")),
    )
    # Backfill: a kind's last event, or a later revision its rows took when a joined kind re-rendered them.
    op.execute(
        sa.text(
            "INSERT INTO kind_revisions (namespace, type, revision) "
            "SELECT namespace, type, max(revision) FROM ("
            " SELECT namespace, type, revision FROM events"
            " UNION ALL SELECT namespace, type, revision FROM resources"
            ") AS touched GROUP BY namespace, type"
        )
    )
    op.execute(sa.text("UPDATE meta SET schema_version = 2 WHERE singleton = 1"))


def downgrade() -> None:
    op.execute(sa.text("UPDATE meta SET schema_version = 1 WHERE singleton = 1"))
    op.drop_table("kind_revisions")
