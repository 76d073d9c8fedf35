"""Alembic environment: the schema is the sqlmodel tables of ``baton.store.cases`` and
``baton.store.directory``. Baton passes its own connection (``config.attributes``); run from
the ``alembic`` command line it connects to the configured documentation store."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import baton.store.accounts
import baton.store.cases
import baton.store.directory
import baton.store.ratings

del baton  # imported for their tables

config = context.config
target_metadata = SQLModel.metadata


def run() -> None:
    """Run the migrations on Baton's connection, or on one to the configured store."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    from baton.settings import Settings
    from baton.store.cases import make_engine

    with make_engine(Settings().database_url).begin() as conn:
        _migrate(conn)


def _migrate(connection: object) -> None:
    # SQLite cannot ALTER most things: batch mode recreates tables where needed.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
