"""Alembic migrations of the read model (script location for ``omni-readmodel migrate``)."""
