"""Alembic migrations of the documentation store (``baton.store.migrate`` applies them)."""
