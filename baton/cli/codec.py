"""``baton codec``: make encryption keys and run the codec server."""

from __future__ import annotations

from typing import Annotated

import typer
from aiohttp import web
from rich.console import Console

from baton.settings import ConfigError, Settings
from baton.temporal.codec import new_key
from baton.temporal.codec_server import codec_app

codec_app_cli = typer.Typer(help="Payload encryption: keys and the codec server.")
err = Console(stderr=True)


@codec_app_cli.command("new-key")
def make_key(
    key_id: Annotated[str, typer.Argument(help="A name for the key, e.g. 2026-11.")],
) -> None:
    """Print a new AES-256 key as an entry for BATON_ENCRYPTION_KEYS (put it first)."""
    print(f"{key_id}:{new_key()}")


@codec_app_cli.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Default: BATON_CODEC_PORT (8081).")] = None,
) -> None:
    """Decrypt payloads for the Web UI and the temporal CLI, for holders of a token."""
    settings = Settings()
    try:
        codec = settings.codec
    except ConfigError as e:
        err.print(str(e), style="red", markup=False)
        raise typer.Exit(2) from None
    if codec is None:
        err.print("BATON_ENCRYPTION_KEYS is not set: there is nothing to decrypt", style="red")
        raise typer.Exit(2)
    tokens = settings.baton_codec_tokens.get_secret_value() if settings.baton_codec_tokens else ""
    try:
        app = codec_app(codec, tokens.split(","), settings.baton_codec_cors_origins.split(","))
    except ValueError as e:
        err.print(str(e), style="red", markup=False)
        raise typer.Exit(2) from None
    web.run_app(app, host=host, port=port or settings.baton_codec_port, print=err.print)
