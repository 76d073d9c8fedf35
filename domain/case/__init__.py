"""The case aggregate: every rule of how a customer case moves.

:class:`CaseFile` wraps the :class:`CaseView` and applies commands (a message, an
accept, a manual escalation, a resolution, a follow-up, a deadline that came due).
Each command validates first (raising :class:`CaseRuleViolation` and changing
nothing), then changes the state only through the transition table and returns the
notifications the change calls for. Time is always passed in, never read.

One module per phase: ``ai_handling``, ``handoff``, ``human_handling``,
``follow_up``, and ``approval`` (escalations to management that wait for a yes);
``base`` holds what they share, ``file`` puts them together.
"""

from domain.case.base import CaseRuleViolation, path_name
from domain.case.file import CaseFile

__all__ = ["CaseFile", "CaseRuleViolation", "path_name"]
