"""The learning loop against the documentation store: read a period's documented cases,
retrain the risk model and propose thresholds (``domain.learning``), store the proposal
as a new config version, apply one, and give workers the detector of the active one.

A learning run never changes what detects until a proposal is applied (by
``baton learning apply VERSION``, or by the run itself when ``learning.auto_apply`` is
set); a run that cannot learn raises :class:`NothingToLearn` and writes nothing.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import ValidationError

from baton.detection.risk_training import fit_risk_model
from baton.store.cases import CaseStore, LearningProposalRow
from baton.store.ratings import RatingStore
from domain.detection import DetectionContext
from domain.detector import Detector
from domain.learning import (
    MIN_CASES_PER_CLASS,
    TUNABLES,
    HeldBackScores,
    LabelledCase,
    LearningProposal,
    head_tunables,
    needed_a_human,
    product_feedback,
    propose_threshold,
    reason_stats,
    threshold_value,
    with_overrides,
)
from domain.models import Author, CaseView, IncomingMessage
from domain.risk import RiskModel
from domain.scores import binary_scores
from domain.states import EscalationLevel


class NothingToLearn(Exception):
    """The period holds no documented case the loop can learn from."""


class BrokenProposal(Exception):
    """A stored proposal (or its model) does not validate: it cannot be applied."""


def _held_back(case_id: str) -> bool:
    # A fixed rule on the id: a case stays on its side of the split, run after run.
    return hashlib.sha256(case_id.encode()).digest()[0] % 3 == 0


def _customer_messages(store: CaseStore, view: CaseView) -> list[IncomingMessage]:
    """What the customer wrote before the case was handed off (what detection could
    have caught it on); the first message when that one triggered the handoff."""
    rows = [m for m in store.messages(view.case_id) if m.author == Author.CUSTOMER.value]
    if view.handoff_at is not None:
        handoff = view.handoff_at
        before = [m for m in rows if _aware(m.at) < handoff]
        rows = before or rows[:1]
    return [
        IncomingMessage(message_id=m.message_id, author=Author.CUSTOMER, text=m.text)
        for m in rows
        if m.text
    ]


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _context(view: CaseView) -> DetectionContext:
    # Each message on its own, as a first message: the loop compares thresholds, and
    # the signals that need earlier turns (trend, repetition) are left to the live case.
    return DetectionContext(
        language=view.customer.language,
        customer_tier=view.customer.tier,
        first_customer_message=True,
    )


def _features(
    detector: Detector, view: CaseView, texts: Sequence[IncomingMessage]
) -> dict[str, float]:
    """The strongest value of each feature over the customer's messages."""
    context = _context(view)
    strongest: dict[str, float] = {}
    for message in texts:
        for name, value in detector.features(message, context).items():
            strongest[name] = max(value, strongest.get(name, 0.0))
    return strongest


def _escalates(detector: Detector, view: CaseView, texts: Sequence[IncomingMessage]) -> bool:
    """Would ``detector`` bring a human in on any of these messages?"""
    context = _context(view)
    return any(
        h.level >= EscalationLevel.TAKEOVER
        for message in texts
        for h in detector.assess(message, context).hits
    )


class _Period:
    """The documented cases of one period, labelled, with their texts."""

    def __init__(self, store: CaseStore, detector: Detector, since: datetime, until: datetime):
        rows = store.cases_opened(since, until)
        if not rows:
            raise NothingToLearn(
                f"no documented cases opened between {since:%Y-%m-%d} and {until:%Y-%m-%d}"
            )
        came_back = store.repeated_cases(since)
        self.views = [CaseView.model_validate_json(r.view_json) for r in rows]
        self.came_back = came_back
        self.labelled: list[tuple[CaseView, list[IncomingMessage], LabelledCase]] = []
        for view in self.views:
            label = needed_a_human(view, view.case_id in came_back)
            texts = _customer_messages(store, view)
            if label is None or not texts:  # unjudged, abandoned, or purged: nothing to learn
                continue
            case = LabelledCase(
                case_id=view.case_id,
                features=_features(detector, view, texts),
                needs_human=label,
                held_back=_held_back(view.case_id),
            )
            self.labelled.append((view, texts, case))
        if not self.labelled:
            raise NothingToLearn(
                f"none of the {len(rows)} cases opened between {since:%Y-%m-%d} and "
                f"{until:%Y-%m-%d} has a follow-up that labels it (necessary, too late, or "
                "solved by the AI) and a transcript"
            )


def _retrain(detector: Detector, training: Sequence[LabelledCase]) -> RiskModel | None:
    positives = sum(c.needs_human for c in training)
    if min(positives, len(training) - positives) < MIN_CASES_PER_CLASS:
        return None
    names = detector.feature_names()
    return fit_risk_model(
        names,
        [[c.features.get(n, 0.0) for n in names] for c in training],
        [c.needs_human for c in training],
        trained_on=f"{len(training)} documented cases ({positives} needed a human)",
    )


def learn(
    store: CaseStore, detector: Detector, since: datetime, until: datetime, now: datetime
) -> LearningProposal:
    """Learn from the documented cases opened in [since, until): the proposal (not yet
    stored). Raises :class:`NothingToLearn` when nothing there teaches anything."""
    period = _Period(store, detector, since, until)
    training = [c for _, _, c in period.labelled if not c.held_back]
    model = _retrain(detector, training)
    scorer = model or detector.risk_model
    if scorer is not None:
        for _, _, case in period.labelled:
            case.features["risk"] = scorer.probability(case.features)
    policy = detector.policy
    thresholds = [propose_threshold(t, threshold_value(policy, t.key), training) for t in TUNABLES]
    if detector.learned is not None:
        overrides = policy.detection.learned.thresholds
        heads = head_tunables(h.reason for h in detector.learned.model.heads)
        thresholds += [
            propose_threshold(t, detector.learned.threshold(t.feature, overrides), training)
            for t in heads
        ]
    digest = hashlib.sha256(
        "|".join(
            [policy.version, model.version if model else "-"]
            + [f"{t.key}={t.proposed}" for t in thresholds]
            + [c.case_id for _, _, c in period.labelled]
        ).encode()
    ).hexdigest()
    proposal = LearningProposal(
        version=f"learn-{now:%Y%m%d}-{digest[:8]}",
        based_on=policy.version,
        since=since.date().isoformat(),
        until=until.date().isoformat(),
        cases=len(period.views),
        labelled=len(period.labelled),
        reasons=reason_stats((v, v.case_id in period.came_back) for v in period.views),
        thresholds=thresholds,
        model=model or detector.risk_model,
        retrained=model is not None,
        feedback=product_feedback(
            period.views, RatingStore(store.engine).ratings([v.case_id for v in period.views])
        ),
    )
    held = [(v, texts, c) for v, texts, c in period.labelled if c.held_back]
    if held:
        after = proposed_detector(detector, proposal)
        labels = [c.needs_human for _, _, c in held]
        before_scores = binary_scores(labels, [_escalates(detector, v, t) for v, t, _ in held])
        after_scores = binary_scores(labels, [_escalates(after, v, t) for v, t, _ in held])
        proposal = proposal.model_copy(
            update={
                "held_back": HeldBackScores(
                    cases=len(held),
                    precision_before=round(before_scores.precision, 3),
                    recall_before=round(before_scores.recall, 3),
                    precision_after=round(after_scores.precision, 3),
                    recall_after=round(after_scores.recall, 3),
                )
            }
        )
    return proposal


def proposed_detector(base: Detector, proposal: LearningProposal) -> Detector:
    """The detector ``proposal`` would run: its thresholds and model over ``base``."""
    policy = with_overrides(base.policy, proposal.version, proposal.overrides())
    return Detector(
        policy, base.sentiment_scorers, proposal.model or base.risk_model, base.learned
    )


def save(store: CaseStore, proposal: LearningProposal, now: datetime) -> bool:
    """Store ``proposal`` as ``proposed``; False if that version was stored before."""
    return store.add_proposal(
        LearningProposalRow(
            version=proposal.version,
            created_at=now,
            based_on=proposal.based_on,
            status="proposed",
            proposal_json=proposal.model_dump_json(),
        )
    )


def load_proposal(row: LearningProposalRow) -> LearningProposal:
    """The stored proposal, validated; :class:`BrokenProposal` names what is wrong."""
    try:
        return LearningProposal.model_validate_json(row.proposal_json)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise BrokenProposal(
            f"learning proposal {row.version} is damaged at {where}: {first['msg']}"
        ) from None


def apply(store: CaseStore, base: Detector, version: str, now: datetime) -> LearningProposal:
    """Activate proposal ``version``: checked first (it must load and build a detector
    on the current policy), then made the only active one."""
    row = store.proposal(version)
    if row is None:
        known = ", ".join(r.version for r in store.proposals()[:5]) or "none yet"
        raise LookupError(f"no learning proposal {version!r} (latest: {known})")
    proposal = load_proposal(row)
    try:
        proposed_detector(base, proposal)
    except (ValidationError, ValueError) as err:
        raise BrokenProposal(
            f"learning proposal {version} does not fit the policy: {err}"
        ) from None
    store.activate_proposal(version, now)
    return proposal


class ActiveDetector:
    """The detector of the active learning proposal over the config file's; re-read
    from the store at most every ``ttl`` seconds, so ``baton learning apply`` reaches
    running workers without a restart."""

    def __init__(self, base: Detector, store: CaseStore, ttl: float = 15.0) -> None:
        """Serve ``base`` until a proposal is active in ``store``."""
        self.base = base
        self._store = store
        self._ttl = ttl
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._version: str | None = None
        self._current = base

    def __call__(self) -> Detector:
        """The detector to assess with now."""
        with self._lock:
            if time.monotonic() - self._checked >= self._ttl:
                self._refresh()
            return self._current

    def _refresh(self) -> None:
        self._checked = time.monotonic()
        row = self._store.active_proposal()
        version = row.version if row else None
        if version == self._version:
            return
        if row is None:
            self._current = self.base
        else:
            try:
                self._current = proposed_detector(self.base, load_proposal(row))
            except (BrokenProposal, ValidationError, ValueError):
                return  # keep detecting with what works; `baton learning apply` checks first
        self._version = version
