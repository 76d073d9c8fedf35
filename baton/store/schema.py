"""Schema migrations of the documentation store, applied by Baton itself (Alembic).

Every process that opens the store (worker, CLI) brings it to the newest revision
first, so upgrading Baton upgrades the schema without losing records. A store created
before migrations existed (tables but no ``alembic_version``) is stamped at the
baseline revision and upgraded from there.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"
"""The schema as it was before migrations (``case`` and the directory's tables)."""


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for Baton's migrations, on ``connection`` if given."""
    config = Config(MIGRATIONS / "alembic.ini")
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


def current_revision(engine: Engine) -> str | None:
    """The store's revision (None: not migrated yet)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the store at ``engine`` to ``revision`` (by default the newest)."""
    if revision == "head" and current_revision(engine) == head():
        return  # the usual start: one query instead of Alembic's whole upgrade run
    with engine.begin() as connection:
        config = alembic_config(connection)
        tables = set(inspect(connection).get_table_names())
        if "alembic_version" not in tables and "case" in tables:
            command.stamp(config, BASELINE)  # created by create_all before migrations
        command.upgrade(config, revision)
