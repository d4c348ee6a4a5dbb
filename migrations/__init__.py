"""Alembic migrations of the Kejian database (run with ``kejian db upgrade``)."""
