"""``baton desk``: the agents' desk and its sign-in accounts."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer
from rich.console import Console

from baton.desk.serve import desk_server
from baton.settings import ConfigError, Settings
from baton.store.accounts import AccountError, AccountStore
from baton.store.cases import CaseStore, make_engine
from baton.store.directory import DirectoryStore, read_directory
from baton.temporal.client import BatonClient

desk_app = typer.Typer(help="The agents' desk: serve it, give people their passwords.")
err = Console(stderr=True)


@desk_app.command("password")
def password(
    person: Annotated[str, typer.Argument(help="An agent or supervisor of the directory.")],
    lead: Annotated[
        bool | None, typer.Option("--lead/--no-lead", help="A support lead (reports).")
    ] = None,
) -> None:
    """Set PERSON's desk password (read from standard input, or asked for twice)."""
    settings = Settings()
    try:
        directory = read_directory(settings.baton_directory)
    except ConfigError as e:
        err.print(str(e), style="red", markup=False)
        raise typer.Exit(2) from None
    engine = make_engine(settings.database_url)
    DirectoryStore(engine).seed(directory)
    people = {a.id for a in DirectoryStore(engine).directory().agents}
    people |= {t.supervisor for t in directory.teams}
    if person not in people and not lead:
        err.print(f"{person!r} is no agent or supervisor of the directory", style="red")
        raise typer.Exit(2)
    if sys.stdin.isatty():
        secret = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        secret = sys.stdin.readline().rstrip("\n")
    try:
        AccountStore(engine).set_password(person, secret, lead)
    except AccountError as e:
        err.print(str(e), style="red")
        raise typer.Exit(2) from None
    print(f"{person} may sign in to the desk")


@desk_app.command("serve")
def serve() -> None:
    """Serve the desk on BATON_DESK_HOST:BATON_DESK_PORT (127.0.0.1:8300) against the
    cluster in TEMPORAL_ADDRESS (or the embedded server) until interrupted."""
    settings = Settings()

    async def main() -> None:
        try:
            client = await BatonClient.connect(settings)
        except RuntimeError as e:
            err.print(f"cannot reach Temporal: {e}", style="red")
            raise typer.Exit(4) from None
        store = CaseStore(settings.database_url)
        try:
            await desk_server(settings, client, store).serve()
        finally:
            store.close()

    asyncio.run(main())
