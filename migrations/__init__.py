"""Alembic migrations of the read model (script location for ``omni-readmodel migrate``)."""

# The newest revision in versions/: the schema gate compares the database with it without importing
# Alembic (models/migrate.py). Bump it with every new migration; tests/test_migrations.py checks it.
HEAD = "0008"
