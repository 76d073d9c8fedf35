"""Hands the worker's escalation policy to a case, recorded in its history."""

from __future__ import annotations

from temporalio import activity

from domain.policy import EscalationPolicy


class PolicyActivities:
    """An activity returning the policy the worker was started with.

    Recording it in history means a case keeps the policy it started with, and its
    replay is unaffected by later edits of the config file.
    """

    def __init__(self, policy: EscalationPolicy) -> None:
        """Serve ``policy``."""
        self._policy = policy

    @activity.defn(name="load_policy")
    def load_policy(self) -> EscalationPolicy:
        """The worker's current escalation policy."""
        return self._policy
