"""initial read model

Revision ID: 0001
Revises:
Create Date: 2026-11-30 05:32:58.763146
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types of models.schema as of this revision.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
REVISION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("revision", REVISION, autoincrement=False, nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False, comment="created | updated | destroyed"),
        sa.Column("version", sa.BigInteger(), nullable=False, comment="COSI per-resource version"),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.Text(), server_default="", nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=True),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("annotations", JSON, nullable=False),
        sa.Column("finalizers", JSON, nullable=False),
        sa.Column("spec", JSON, nullable=False, comment="decoded spec, protobuf JSON with proto field names"),
        sa.Column(
            "observed_at", sa.DateTime(timezone=True), nullable=False, comment="when the watcher applied it"
        ),
        sa.CheckConstraint("event IN ('created', 'updated', 'destroyed')", name=op.f("ck_events_event_kind")),
        sa.PrimaryKeyConstraint("revision", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_events_namespace_type_id_revision"),
            ["namespace", "type", "id", "revision"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_events_observed_at"), ["observed_at"], unique=False)

    op.create_table(
        "meta",
        sa.Column("singleton", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("head_revision", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "writer_epoch",
            sa.BigInteger(),
            server_default="0",
            nullable=False,
            comment="bumped by each writer that takes over; commits check it (fencing)",
        ),
        sa.Column("writer_id", sa.Text(), nullable=True),
        sa.Column("writer_heartbeat", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("singleton = 1", name=op.f("ck_meta_one_row")),
        sa.PrimaryKeyConstraint("singleton", name=op.f("pk_meta")),
    )
    op.create_table(
        "poison_events",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=True),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=True, comment="the undecodable proto_spec bytes"),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_poison_events")),
    )
    op.create_table(
        "resource_labels",
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("namespace", "type", "key", "value", "id", name=op.f("pk_resource_labels")),
    )
    with op.batch_alter_table("resource_labels", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resource_labels_namespace_type_id"), ["namespace", "type", "id"], unique=False
        )

    op.create_table(
        "resources",
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False, comment="COSI per-resource version"),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.Text(), server_default="", nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=True),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("annotations", JSON, nullable=False),
        sa.Column("finalizers", JSON, nullable=False),
        sa.Column("spec", JSON, nullable=False, comment="decoded spec, protobuf JSON with proto field names"),
        sa.Column(
            "revision", sa.BigInteger(), nullable=False, comment="last event revision touching the row"
        ),
        sa.Column("document", sa.Text(), nullable=True, comment="precomputed API document (JSON)"),
        sa.PrimaryKeyConstraint("namespace", "type", "id", name=op.f("pk_resources")),
    )
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_resources_revision"), ["revision"], unique=False)

    op.create_table(
        "streams",
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("bookmark", sa.LargeBinary(), nullable=True),
        sa.Column("bootstrapped", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("bootstrapped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_revision", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reconnects", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rebootstraps", sa.Integer(), server_default="0", nullable=False),
        sa.Column("poison_events", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("namespace", "type", name=op.f("pk_streams")),
    )
    op.execute(
        sa.text(
            "INSERT INTO meta (singleton, schema_version, head_revision, writer_epoch) VALUES (1, 1, 0, 0)"
        )
    )


def downgrade() -> None:
    op.drop_table("streams")
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resources_revision"))

    op.drop_table("resources")
    with op.batch_alter_table("resource_labels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_labels_namespace_type_id"))

    op.drop_table("resource_labels")
    op.drop_table("poison_events")
    op.drop_table("meta")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_observed_at"))
        batch_op.drop_index(batch_op.f("ix_events_namespace_type_id_revision"))

    op.drop_table("events")
