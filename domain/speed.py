"""Compressed time for demonstrations: every duration of a policy divided by a factor.

``baton demo --speed 60`` runs its cases under such a policy, so a five-minute
acceptance timeout fires after five seconds; the configured policy is untouched.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


KEPT = frozenset({"activities"})
"""Top-level sections left as they are: how long side effects may take is not business
time, and a compressed timeout would only make activities fail."""


def compressed(model: M, speed: float) -> M:
    """``model`` with every duration in it (at any depth, except the :data:`KEPT`
    sections) divided by ``speed``."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    changes = {
        name: _scaled(getattr(model, name), speed)
        for name in type(model).model_fields
        if name not in KEPT
    }
    return model.model_copy(update=changes)


def _scaled(value: Any, speed: float) -> Any:
    if isinstance(value, timedelta):
        return value / speed
    if isinstance(value, BaseModel):
        changes = {name: _scaled(getattr(value, name), speed) for name in type(value).model_fields}
        return value.model_copy(update=changes)
    if isinstance(value, dict):
        return {k: _scaled(v, speed) for k, v in value.items()}
    if isinstance(value, list):
        return [_scaled(v, speed) for v in value]
    if isinstance(value, tuple):
        return tuple(_scaled(v, speed) for v in value)
    return value
