"""Detection as an activity: the verdict is recorded in history, so a case replays the
same even after the detector, its config or its risk model changes."""

from __future__ import annotations

from temporalio import activity

from domain.detection import DetectionRequest, Verdict
from domain.detector import Detector

DetectionResult = Verdict
"""The activity's result (the name histories were recorded with)."""


class DetectionActivities:
    """Runs the worker's detector."""

    def __init__(self, detector: Detector) -> None:
        """Assess with ``detector`` (policy, sentiment analysers, risk model)."""
        self._detector = detector

    @activity.defn(name="assess_message")
    def assess_message(self, request: DetectionRequest) -> Verdict:
        """Assess one message in its case context."""
        return self._detector.assess(request.message, request.context)
