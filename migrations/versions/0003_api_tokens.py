"""api bearer tokens

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 16:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False, comment="hex SHA-256 of the token"),
        sa.Column("scopes", sa.Text(), nullable=False, comment="space-separated scopes"),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=True, comment="NULL: never"),
        sa.Column("revoked", sa.DateTime(timezone=True), nullable=True,
                  comment="when it was revoked; NULL: not revoked"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_api_tokens")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_sha256"), ["sha256"], unique=True)
    op.execute(sa.text("UPDATE meta SET schema_version = 3 WHERE singleton = 1"))


def downgrade() -> None:
    op.execute(sa.text("UPDATE meta SET schema_version = 2 WHERE singleton = 1"))
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_sha256"))
    op.drop_table("api_tokens")
