"""Schema migrations through Alembic, and the gate that refuses a database of another schema.

Alembic (with Mako and Pygments, ~11 MB of RSS) is imported only where a migration runs or the gate
has something to explain: a long-running process whose schema is current never loads it. The watcher's
``--migrate`` runs ``omni-readmodel migrate`` as a child process for the same reason (``upgrade_in_child``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import migrations

from .db import DATABASE_URL_ENV, SchemaError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATE_HINT = "run `omni-readmodel migrate`"


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations; ``engine`` is handed to env.py."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, target: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(engine), target)


def upgrade_in_child(engine: Engine, log_level: str = "WARNING") -> str | None:
    """``upgrade(engine)`` run by ``omni-readmodel migrate`` in a child process, so that a long-running
    caller never loads Alembic: the child's one-line report ("migrated ... -> ..."), or None when the
    schema was already current (then no child is started). The URL goes to the child in its environment,
    never on its command line, where ``ps`` would show a password."""
    if _at_head(engine):
        return None
    if engine.url.get_backend_name() == "sqlite" and engine.url.database in (None, "", ":memory:"):
        upgrade(engine)  # a private in-memory database: only this process can reach it
        return f"migrated to {migrations.HEAD}"
    env = dict(os.environ, **{DATABASE_URL_ENV: engine.url.render_as_string(hide_password=False)})
    done = subprocess.run([sys.executable, "-m", "omni_readmodel", "--log-level", log_level, "migrate"],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise SchemaError(f"`omni-readmodel migrate` failed: {last}")
    return done.stdout.strip()


def downgrade(engine: Engine, target: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(engine), target)


def _at_head(engine: Engine) -> bool:
    """Whether Alembic's version table names this release's head (migrations.HEAD), read without Alembic."""
    try:
        with engine.connect() as connection:
            versions = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    except sa.exc.DBAPIError:
        return False  # no version table yet; check_schema's slow path says why
    return versions == [migrations.HEAD]


def check_schema(engine: Engine) -> None:
    """Raise SchemaError unless the database is at exactly this release's schema."""
    if _at_head(engine):
        return
    from alembic.script import ScriptDirectory

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
