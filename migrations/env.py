"""Alembic environment: migrations run on the engine handed in by ``models.migrate``, or on the URL
from ``OMNI_READMODEL_DATABASE_URL`` / alembic.ini when Alembic's own CLI is used."""

from alembic import context

from models.db import create_engine
from models.schema import metadata

config = context.config


def run_migrations() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or None)
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `omni-readmodel migrate`")
run_migrations()
