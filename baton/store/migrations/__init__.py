"""Alembic migrations of the documentation store (``baton.store.schema.migrate`` applies them)."""
