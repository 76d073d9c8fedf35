"""A short summary of the conversation for the human who takes the case over.

Extractive and rule-based, so it runs on this machine with no outside service: it
keeps the customer's opening request and the sentences that carry the reasons the
case escalated for (their phrases, amounts, the topics named), in the order they were
said. :class:`Summarizer` is the seam where a user can plug in an LLM instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from domain.models import Author, MessageRecord

_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*", re.UNICODE)
_WORD = re.compile(r"\w+", re.UNICODE)
MIN_WORDS = 3
"""Shorter sentences are greetings and thanks ("Guten Tag.", "Thanks!"), not content."""
_MONEY = re.compile(r"\d[\d.,' ]*\s?(?:€|\$|£|eur|usd|gbp|chf|euro)|(?:€|\$|£)\s?\d", re.I)


class Summarizer(Protocol):
    """Anything that turns a transcript into a few lines for the agent."""

    def summarize(self, messages: Sequence[MessageRecord], cues: Sequence[str]) -> str:
        """A summary of ``messages``; ``cues`` are words that matter (reason phrases)."""
        ...


class ExtractiveSummarizer:
    """Picks the customer's most telling sentences, in conversation order."""

    def __init__(self, max_sentences: int = 3, max_chars: int = 400) -> None:
        """Keep at most ``max_sentences`` sentences and ``max_chars`` characters."""
        self.max_sentences = max_sentences
        self.max_chars = max_chars

    def summarize(self, messages: Sequence[MessageRecord], cues: Sequence[str]) -> str:
        """The opening request plus the sentences that carry the most cues."""
        sentences = [
            (turn, position, s.strip())
            for turn, m in enumerate(messages)
            if m.author is Author.CUSTOMER
            for position, s in enumerate(_SENTENCE.findall(m.text))
            if len(_WORD.findall(s)) >= MIN_WORDS
        ]
        if not sentences:
            return ""
        cue_words = {w for cue in cues for w in _WORD.findall(cue.casefold())}

        def weight(item: tuple[int, int, str]) -> float:
            words = set(_WORD.findall(item[2].casefold()))
            score = 2.0 * len(words & cue_words) + (1.5 if _MONEY.search(item[2]) else 0.0)
            return score + (1.0 if item[0] == sentences[0][0] and item[1] == 0 else 0.0)

        ranked = sorted(sentences, key=lambda s: (-weight(s), s[0], s[1]))
        chosen = sorted(ranked[: self.max_sentences], key=lambda s: (s[0], s[1]))
        text = " … ".join(s[2] for s in chosen)
        return text if len(text) <= self.max_chars else text[: self.max_chars - 1] + "…"
