"""Languages the engine serves customers in."""

from __future__ import annotations

from enum import StrEnum


class Language(StrEnum):
    """A customer's language; every per-language table in the config covers each one."""

    EN = "en"
    DE = "de"
