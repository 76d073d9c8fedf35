"""Detection as an activity: the verdict is recorded in history, so a case replays the
same even after the detector, its config or its risk model changes."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity

from domain.detection import DetectionRequest, Verdict
from domain.detector import Detector

DetectionResult = Verdict
"""The activity's result (the name histories were recorded with)."""


class DetectionActivities:
    """Runs the worker's detector."""

    def __init__(self, detector: Detector | Callable[[], Detector]) -> None:
        """Assess with ``detector`` (policy, sentiment analysers, risk model), or with
        whatever detector the callable returns at each call (the active learning)."""
        self._detector = detector if callable(detector) else lambda: detector

    @activity.defn(name="assess_message")
    def assess_message(self, request: DetectionRequest) -> Verdict:
        """Assess one message in its case context."""
        return self._detector().assess(request.message, request.context)
