"""Learning activities: propose a new config version from a period's documented cases,
and apply one (``baton.reports.learning`` does the work against the documentation store)."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from baton.reports import learning
from baton.reports.learning import ActiveDetector, BrokenProposal, NothingToLearn
from baton.store.cases import CaseStore
from domain.learning import LearningOutcome, LearningPeriod, summary

log = structlog.get_logger(__name__)

NOTHING_TO_LEARN = "NothingToLearn"
"""ApplicationError type of a period that teaches nothing (the workflow reports it)."""


class LearningActivities:
    """``propose_learning`` and ``apply_learning`` against one store and detector."""

    def __init__(self, store: CaseStore, detector: ActiveDetector) -> None:
        """Learn from ``store`` against the detector workers currently assess with."""
        self._store = store
        self._detector = detector

    @activity.defn(name="propose_learning")
    def propose_learning(self, period: LearningPeriod) -> LearningOutcome:
        """Learn from the period and store the proposal (once per version)."""
        now = datetime.now(UTC)
        try:
            proposal = learning.learn(
                self._store, self._detector(), period.since, period.until, now
            )
        except NothingToLearn as err:
            raise ApplicationError(str(err), type=NOTHING_TO_LEARN, non_retryable=True) from None
        learning.save(self._store, proposal, now)
        log.info(
            "learning proposal stored",
            version=proposal.version,
            cases=proposal.cases,
            labelled=proposal.labelled,
        )
        return summary(proposal)

    @activity.defn(name="apply_learning")
    def apply_learning(self, version: str) -> None:
        """Make ``version`` the active proposal (checked first; broken ones fail for good)."""
        try:
            learning.apply(self._store, self._detector.base, version, datetime.now(UTC))
        except (LookupError, BrokenProposal) as err:
            raise ApplicationError(str(err), type=type(err).__name__, non_retryable=True) from None
        log.info("learning proposal applied", version=version)
