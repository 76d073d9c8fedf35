"""Sentiment scoring: one compound score in -1..1 per message, per language.

English uses VADER, German the SentiWS lexicon; both ship their lexicons inside their
packages and are loaded by the adapters (``baton.lexicons``). This module holds the
protocol they share and the lexicon scorer used where no rule-based analyser exists.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Protocol

_TOKEN = re.compile(r"\w+|[,.;:!?]", re.UNICODE)
_CLAUSE_END = frozenset(",.;:!?")
"""A negation reaches no further than its clause: "nicht funktioniert, schlecht" is bad."""

NEGATION_SCALAR = -0.74
"""VADER's factor for a negated word: "nicht gut" is bad, though less than "schlecht"."""
BOOST = 1.3
"""A booster ("sehr", "total") strengthens the next word by this factor."""
NORMALISE_ALPHA = 15.0
"""VADER's normalisation constant: maps an unbounded sum into -1..1."""
LEXICON_SCALE = 4.0
"""SentiWS weights lie in -1..1; VADER's valences in -4..4. Scaling aligns the two."""


class SentimentScorer(Protocol):
    """Anything that turns a text into a compound sentiment in -1 (angry) .. 1 (happy)."""

    def compound(self, text: str) -> float:
        """The text's compound sentiment."""
        ...


def normalise(total: float) -> float:
    """Map a sum of valences into -1..1 the way VADER does."""
    return total / math.sqrt(total * total + NORMALISE_ALPHA)


class LexiconScorer:
    """Sum of word valences with negation and boosters in a three-word window."""

    def __init__(
        self,
        lexicon: Mapping[str, float],
        negations: frozenset[str],
        boosters: frozenset[str],
    ) -> None:
        """Score with ``lexicon`` (word -> valence -1..1, case as in the lexicon)."""
        self._lexicon = lexicon
        self._negations = negations
        self._boosters = boosters

    def _valence(self, word: str) -> float:
        lex = self._lexicon
        # German nouns are capitalised in the lexicon, adjectives not; customers mix both.
        found = lex.get(word)
        if found is None:
            found = lex.get(word.lower())
        if found is None:
            found = lex.get(word.capitalize(), 0.0)
        return found

    def compound(self, text: str) -> float:
        """The text's compound sentiment in -1..1."""
        total = 0.0
        negated_for = 0  # words left in the current negation's reach
        boosted = False
        for token in _TOKEN.findall(text):
            if token in _CLAUSE_END:
                negated_for, boosted = 0, False
                continue
            lowered = token.lower()
            valence = self._valence(token)
            if valence:
                if negated_for:
                    valence *= NEGATION_SCALAR
                if boosted:
                    valence *= BOOST
                total += valence * LEXICON_SCALE
            boosted = lowered in self._boosters
            if lowered in self._negations:
                negated_for = 3
            elif negated_for:
                negated_for -= 1
        return normalise(total)
