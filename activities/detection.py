"""Detection as an activity: the verdict is recorded in history, so a case replays the
same even after the detector or its config changes."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from domain.detection import DetectionRequest, detect
from domain.models import ReasonHit
from domain.policy import EscalationPolicy


class DetectionResult(BaseModel):
    """The reasons one message triggered, and which policy version found them."""

    hits: list[ReasonHit]
    policy_version: str


class DetectionActivities:
    """Runs the detector with the worker's policy."""

    def __init__(self, policy: EscalationPolicy) -> None:
        """Detect with ``policy``."""
        self._policy = policy

    @activity.defn(name="assess_message")
    def assess_message(self, request: DetectionRequest) -> DetectionResult:
        """Assess one message in its case context."""
        hits = detect(request.message, request.context, self._policy)
        return DetectionResult(hits=hits, policy_version=self._policy.version)
