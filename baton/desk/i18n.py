"""The desk's texts in German and English, and which one a person gets."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

LANGUAGES = ("en", "de")
"""The desk's languages; the first is the fallback."""
MESSAGES = Path(__file__).resolve().parent / "messages"


@cache
def catalog(language: str) -> dict[str, str]:
    """Every text of the desk in ``language`` (English for one it does not speak)."""
    chosen = language if language in LANGUAGES else LANGUAGES[0]
    return tomllib.loads((MESSAGES / f"{chosen}.toml").read_text(encoding="utf-8"))


def negotiate(accept_language: str, preferred: str | None = None) -> str:
    """The person's own choice, else the browser's first language the desk speaks
    (``Accept-Language``, by its q-values), else English."""
    if preferred in LANGUAGES:
        return preferred
    ranked: list[tuple[float, str]] = []
    for item in accept_language.split(","):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((quality, tag.strip().lower().split("-")[0]))
    for quality, language in sorted(ranked, key=lambda r: -r[0]):
        if quality > 0 and language in LANGUAGES:
            return language
    return LANGUAGES[0]
