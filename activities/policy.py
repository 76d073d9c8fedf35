"""Hands the worker's escalation policy to a case, recorded in its history."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity

from domain.policy import EscalationPolicy


class PolicyActivities:
    """An activity returning the policy the worker was started with.

    Recording it in history means a case keeps the policy it started with, and its
    replay is unaffected by later edits of the config file.
    """

    def __init__(self, policy: EscalationPolicy | Callable[[], EscalationPolicy]) -> None:
        """Serve ``policy``, or what the callable returns at each call (the policy of the
        active learning proposal)."""
        self._policy = policy if callable(policy) else lambda: policy

    @activity.defn(name="load_policy")
    def load_policy(self) -> EscalationPolicy:
        """The worker's current escalation policy, as a case carries it."""
        return self._policy().for_case()
