"""``baton assess``: runs the detector over a transcript, one JSON line per message.

A transcript is JSON Lines: an optional first line ``{"customer": {"tier": "vip",
"language": "de"}}``, then one message a line, ``{"author": "customer"|"ai"|"agent",
"text": "...", "amount": 1200.0}`` (``amount`` optional, ``at`` an optional ISO time).
``baton assess --batch`` reads one whole conversation a line (``{"id": ..., "customer":
{...}, "messages": [...]}``) and prints the standing after its last message, in input
order. The detector and config are the worker's; no Temporal server is involved.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from baton.settings import describe
from domain.detection import DetectionContext, PriorTurn
from domain.detector import Detector
from domain.language import Language
from domain.models import Amount, Author, CustomerTier, IncomingMessage
from domain.states import EscalationLevel, Severity


class TranscriptError(ValueError):
    """A line of the transcript is not valid; the message names the line and the problem."""


class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class TranscriptCustomer(_Line):
    """The optional first line's customer: tier and language."""

    tier: CustomerTier = CustomerTier.STANDARD
    language: Language = Language.EN


class CustomerLine(_Line):
    """``{"customer": {...}}``."""

    customer: TranscriptCustomer


class MessageLine(_Line):
    """One message of the transcript."""

    author: Author
    text: Annotated[str, Field(min_length=1)]
    amount: Amount = None
    at: datetime | None = None


class Conversation(_Line):
    """One line of ``baton assess --batch``: a whole conversation."""

    id: Annotated[str, Field(min_length=1, max_length=200)]
    customer: TranscriptCustomer = TranscriptCustomer()
    messages: list[MessageLine] = Field(min_length=1)


class LineAssessment(BaseModel):
    """What ``baton assess`` prints for one message: the case's standing after it."""

    escalate: bool
    level: EscalationLevel
    severity: Severity
    risk: float
    reasons: list[dict[str, Any]]


class ConversationAssessment(LineAssessment):
    """What ``baton assess --batch`` prints for one conversation: after its last message."""

    id: str


class TranscriptAssessor:
    """Feeds a conversation to the detector turn by turn, as the case workflow does."""

    def __init__(self, detector: Detector, customer: TranscriptCustomer | None = None) -> None:
        """Assess with ``detector`` for ``customer`` (or the transcript's first line's)."""
        self._detector = detector
        self._customer = customer or TranscriptCustomer()
        self._prior: list[PriorTurn] = []
        self._turns = 0
        self._started: datetime | None = None
        self._level = EscalationLevel.AI_ONLY
        self._severity = Severity.LOW
        self._risk = 0.0

    def run(self, lines: Iterable[bytes | str]) -> Iterator[LineAssessment]:
        """One assessment per message line; raises :class:`TranscriptError` on a bad line."""
        seen_message = False
        for number, raw in enumerate(lines, start=1):
            data = _decode(raw, number)
            if data is None:
                continue
            if isinstance(data, dict) and "customer" in data and not seen_message:
                self._customer = _validate(CustomerLine, data, number).customer
                continue
            seen_message = True
            yield self._assess(_validate(MessageLine, data, number), number)

    def conversation(self, conversation: Conversation, number: int) -> ConversationAssessment:
        """The standing after the conversation's last message (line ``number``)."""
        last = None
        for message in conversation.messages:
            last = self._assess(message, number)
        assert last is not None  # a conversation has one message at least
        return ConversationAssessment(id=conversation.id, **last.model_dump())

    def _assess(self, line: MessageLine, number: int) -> LineAssessment:
        policy = self._detector.policy
        limit = policy.limits.max_message_chars
        if len(line.text) > limit:
            raise TranscriptError(
                f"line {number}: text has {len(line.text)} characters, "
                f"more than limits.max_message_chars ({limit})"
            )
        if line.at is not None and self._started is None:
            self._started = line.at
        elapsed = line.at - self._started if line.at and self._started else timedelta(0)
        message = IncomingMessage(
            message_id=f"line-{number}", author=line.author, text=line.text, amount=line.amount
        )
        context = DetectionContext(
            language=self._customer.language,
            customer_tier=self._customer.tier,
            first_customer_message=not self._prior and line.author is Author.CUSTOMER,
            prior_turns=self._prior[-policy.detection.sentiment.window :],
            turns=self._turns,
            elapsed=max(elapsed, timedelta(0)),
        )
        verdict = self._detector.assess(message, context)
        self._turns += 1
        if line.author is Author.CUSTOMER:
            self._prior.append(PriorTurn(text=line.text, sentiment=verdict.sentiment))
            self._risk = verdict.risk
        for h in verdict.hits:
            self._level = max(self._level, h.level)
            self._severity = max(self._severity, h.severity, key=lambda s: s.rank)
        return LineAssessment(
            escalate=self._level >= EscalationLevel.TAKEOVER,
            level=self._level,
            severity=self._severity,
            risk=self._risk,
            reasons=[
                h.model_dump(include={"name", "score", "evidence", "threshold"})
                for h in verdict.hits
            ],
        )


def _decode(raw: bytes | str, number: int) -> Any:
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise TranscriptError(f"line {number}: not UTF-8 text") from None
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise TranscriptError(f"line {number}: not JSON ({err.msg})") from None


M = TypeVar("M", bound=BaseModel)


def _validate(model: type[M], data: Any, number: int) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise TranscriptError(f"line {number}: invalid {model.__name__}\n{describe(err)}") from None


def parse_conversation(raw: bytes | str, number: int) -> Conversation | None:
    """Line ``number`` of a batch as a conversation (None for a blank line)."""
    data = _decode(raw, number)
    return None if data is None else _validate(Conversation, data, number)


def assess_batch(
    detector: Detector,
    lines: Iterable[bytes | str],
    prime: Callable[[list[str]], None] | None = None,
    chunk: int = 64,
) -> Iterator[dict[str, Any]]:
    """One result per non-blank line, in input order: the conversation's assessment,
    or ``{"line": n, "id": ..., "error": ...}`` for a line that cannot be assessed.

    ``prime`` gets each chunk's customer texts first, so an encoder can embed them in
    one batch (several times faster than one by one)."""
    numbered = enumerate(lines, start=1)
    while block := list(islice(numbered, chunk)):
        parsed: list[tuple[int, bytes | str, Conversation | TranscriptError]] = []
        for number, raw in block:
            try:
                conversation = parse_conversation(raw, number)
            except TranscriptError as err:
                parsed.append((number, raw, err))
                continue
            if conversation is not None:
                parsed.append((number, raw, conversation))
        if prime is not None:
            prime(
                [
                    m.text
                    for _, _, c in parsed
                    if isinstance(c, Conversation)
                    for m in c.messages
                    if m.author is Author.CUSTOMER
                ]
            )
        for number, raw, item in parsed:
            yield _assess_one(detector, number, raw, item)


def _assess_one(
    detector: Detector, number: int, raw: bytes | str, item: Conversation | TranscriptError
) -> dict[str, Any]:
    try:
        if isinstance(item, TranscriptError):
            raise item
        assessor = TranscriptAssessor(detector, item.customer)
        result = assessor.conversation(item, number).model_dump(mode="json")
        return {"id": result.pop("id"), **result}
    except TranscriptError as err:
        return {"line": number, "id": _id_of(raw), "error": str(err)}


def _id_of(raw: bytes | str) -> str | None:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    found = data.get("id") if isinstance(data, dict) else None
    return found if isinstance(found, str) and len(found) <= 200 else None
