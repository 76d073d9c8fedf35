"""The detector's signals, each a pure function of the text and the conversation so far.

Every function returns a score in 0..1 (or a count) and the evidence that explains it;
:mod:`domain.detector` compares scores with the thresholds in the policy and turns the
ones that pass into named reasons.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from price_parser import Price
from rapidfuzz import fuzz

_LETTER_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_LISTED_POINT = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+\S", re.MULTILINE)
_NUMBER = r"\d{1,3}(?:[.,' ]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_CURRENCY = r"€|\$|£|EUR|USD|GBP|CHF|euros?|dollars?|pounds?|franken"
_AMOUNT = re.compile(
    rf"(?:(?:{_CURRENCY})\s?(?:{_NUMBER}))|(?:(?:{_NUMBER})\s?(?:{_CURRENCY}))(?!\w)",
    re.IGNORECASE,
)
_MIN_SHOUT_LETTERS = 8
"""Fewer capitalised letters than this are acronyms ("EMR", "VPN"), not shouting."""


_TOKEN = re.compile(r"\w+", re.UNICODE)
_PREFIX_KEY = 3
"""Wildcard prefixes are indexed by their first three letters."""


class PhraseMatcher:
    """Finds which named phrase lists occur in a text, in one pass over its words.

    Phrases match case-insensitively as whole words ("sue" does not fire inside
    "issue"; punctuation between words is ignored); a phrase ending in ``*`` also
    matches longer last words ("kündig*" finds "Kündigung"). Matching looks words up
    in an index instead of trying every phrase at every position, so its cost grows
    with the text, not with the number of phrases.
    """

    def __init__(self, tables: Iterable[Mapping[str, Sequence[str]]]) -> None:
        """Index every phrase of every ``name -> phrases`` table."""
        self._exact: dict[tuple[str, ...], tuple[str, str]] = {}
        self._wild: dict[tuple[str, ...], list[tuple[str, str, str]]] = {}
        self._starts: set[str] = set()
        self._prefix_starts: dict[str, list[tuple[str, str, str]]] = {}
        self._longest = 1
        for table in tables:
            for name, phrases in sorted(table.items()):
                for phrase in phrases:
                    self._add(name, phrase)

    def _add(self, name: str, phrase: str) -> None:
        wild = phrase.endswith("*")
        words = tuple(_TOKEN.findall(phrase.casefold()))
        if not words:
            return
        self._longest = max(self._longest, len(words))
        if not wild:
            self._exact.setdefault(words, (name, phrase))
            self._starts.add(words[0])
            return
        head, prefix = words[:-1], words[-1]
        entry = (prefix, name, phrase)
        if head:
            self._wild.setdefault(head, []).append(entry)
            self._starts.add(head[0])
        else:
            self._prefix_starts.setdefault(prefix[:_PREFIX_KEY], []).append(entry)

    def find(self, text: str) -> dict[str, str]:
        """``name -> first phrase found`` for each name that occurs in ``text``."""
        found: dict[str, str] = {}
        words = _TOKEN.findall(text.casefold())
        for i, word in enumerate(words):
            for prefix, name, phrase in self._prefix_starts.get(word[:_PREFIX_KEY], ()):
                if word.startswith(prefix):
                    found.setdefault(name, phrase)
            if word not in self._starts:
                continue
            for n in range(1, min(self._longest, len(words) - i) + 1):
                gram = tuple(words[i : i + n])
                exact = self._exact.get(gram)
                if exact is not None:
                    found.setdefault(*exact)
                if i + n < len(words):
                    for prefix, name, phrase in self._wild.get(gram, ()):
                        if words[i + n].startswith(prefix):
                            found.setdefault(name, phrase)
        return found


@dataclass(frozen=True)
class Intensity:
    """How loud a message is: capitals, exclamation marks, profanity."""

    score: float
    caps_ratio: float
    exclamations: int
    profanity: str | None

    def evidence(self) -> str:
        """What made it loud, for the assessment."""
        parts = [f"capitals {self.caps_ratio:.0%}", f"{self.exclamations}x '!'"]
        if self.profanity:
            parts.append(f"profanity {self.profanity!r}")
        return ", ".join(parts)


def intensity(
    text: str, profanity: PhraseMatcher, caps_ratio: float, exclamations: int
) -> Intensity:
    """Score 0..1: full capitals and full exclamations together, or profanity alone, reach 1."""
    letters = "".join(_LETTER_WORD.findall(text))
    upper = sum(1 for c in letters if c.isupper())
    ratio = upper / len(letters) if upper >= _MIN_SHOUT_LETTERS else 0.0
    marks = text.count("!")
    swear = next(iter(profanity.find(text).values()), None)
    # One exclamation mark is punctuation ("Thanks!"); intensity starts with the second.
    extra_marks = max(0, marks - 1) / max(1, exclamations - 1)
    score = 0.5 * min(1.0, ratio / caps_ratio) + 0.5 * min(1.0, extra_marks)
    if swear is not None:
        score += 0.6
    return Intensity(min(1.0, score), ratio, marks, swear)


def _words(text: str) -> str:
    return " ".join(_TOKEN.findall(text.casefold()))


def repetition(text: str, earlier: Sequence[str], min_words: int) -> tuple[float, int]:
    """Best similarity 0..1 of ``text`` to an earlier turn, and how many turns back it was.

    Token-sort similarity of the words (case and punctuation ignored), so a reworded or
    shouted repeat counts, while two different questions sharing most words do not.
    """
    mine = _words(text)
    if len(mine.split()) < min_words:
        return 0.0, 0
    best, back = 0.0, 0
    for distance, other in enumerate(reversed(earlier), start=1):
        theirs = _words(other)
        if len(theirs.split()) < min_words:
            continue
        score = max(fuzz.token_sort_ratio(mine, theirs), _contained(mine, theirs)) / 100.0
        if score > best:
            best, back = score, distance
    return best, back


def _contained(mine: str, theirs: str) -> float:
    # "I asked already: where is my refund" repeats "where is my refund": the earlier
    # question is contained in the new one, which token-sort alone would miss.
    shorter, longer = sorted((mine, theirs), key=len)
    short_words, long_words = shorter.split(), longer.split()
    if len(short_words) * 2 < len(long_words) or not set(short_words) <= set(long_words):
        return 0.0
    return fuzz.partial_ratio(shorter, longer)


@dataclass(frozen=True)
class Complexity:
    """Products or systems named across the window, and distinct points in this message."""

    topics: tuple[str, ...]
    points: int
    score: float


def complexity(
    text: str,
    earlier_topics: Iterable[str],
    topics: PhraseMatcher,
    distinct_topics: int,
    many_issues: int,
    long_message_chars: int,
) -> Complexity:
    """Score reaches 1 with ``distinct_topics`` systems, or many points in a long message."""
    named = tuple(sorted(set(topics.find(text)) | set(earlier_topics)))
    points = text.count("?") + len(_LISTED_POINT.findall(text))
    score = len(named) / distinct_topics
    if len(text) >= long_message_chars:
        score = max(score, points / many_issues)
    return Complexity(named, points, min(1.0, score))


def amounts_in_text(text: str) -> list[tuple[float, str]]:
    """Money amounts written in the text with a currency: ``(value, as written)``.

    Either decimal mark is understood ("1.200,00 €" and "$1,200.00" are both 1200).
    """
    found = []
    for match in _AMOUNT.finditer(text):
        value = Price.fromstring(match.group()).amount_float
        if value is not None:
            found.append((value, match.group()))
    return found


def ratio(value: float, threshold: float) -> float:
    """``value / threshold`` capped at 1: how far along a signal is to firing."""
    return min(1.0, value / threshold) if threshold > 0 else 0.0
