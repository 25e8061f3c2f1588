"""Schema migrations through Alembic, and the gate that refuses a database of another schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

import migrations

from .db import SchemaError

MIGRATE_HINT = "run `omni-readmodel migrate`"


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations; ``engine`` is handed to env.py."""
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, target: str = "head") -> None:
    command.upgrade(alembic_config(engine), target)


def downgrade(engine: Engine, target: str = "base") -> None:
    command.downgrade(alembic_config(engine), target)


def check_schema(engine: Engine) -> None:
    """Raise SchemaError unless the database is at exactly this release's schema."""
    script = ScriptDirectory.from_config(alembic_config())
    with engine.connect() as connection:
        current = current_revision(connection)
    head = script.get_current_head()
    if current == head:
        return
    if current is None:
        raise SchemaError(f"database is not migrated: {MIGRATE_HINT}")
    known = {rev.revision for rev in script.walk_revisions()}
    if current not in known:
        raise SchemaError(
            f"database schema {current} is newer than this release of omni-readmodel (knows up to {head}); "
            "upgrade omni-readmodel"
        )
    raise SchemaError(f"database schema {current} is older than {head}: {MIGRATE_HINT}")
