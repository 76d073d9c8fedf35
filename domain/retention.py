"""What retention removes from a case: every text that came from or names a person.

Kept: the numbers and names of things the KPIs and the learning loop count (states,
levels, severities, reasons fired, tiers, teams, agents, times, risk, outcomes, root
cause). Removed: the customer's name and e-mail, the subject, the transcript, the
evidence detection quoted, the handoff package, the causes written into the history
(they quote evidence and free-text reasons), resolution and follow-up texts, expert
answers and earlier cases.
"""

from __future__ import annotations

from domain.models import CaseView, ExpertInput, ReasonHit


def anonymised(view: CaseView) -> CaseView:
    """``view`` without personal data (see the module docstring for what stays)."""
    customer = view.customer.model_copy(update={"name": "", "email": None})
    return view.model_copy(
        update={
            "customer": customer,
            "subject": "",
            "recent_messages": [],
            "handoff": None,
            "reasons": [_without_evidence(r) for r in view.reasons],
            "pending_escalation": (
                _without_evidence(view.pending_escalation) if view.pending_escalation else None
            ),
            "history": [e.model_copy(update={"cause": ""}) for e in view.history],
            "resolution": (
                view.resolution.model_copy(update={"resolution": ""}) if view.resolution else None
            ),
            "follow_up": view.follow_up.model_copy(update={"lesson": ""})
            if view.follow_up
            else None,
            "expert_input": [_without_answer(x) for x in view.expert_input],
            "earlier_cases": None,
            "notification_failures": [],
        }
    )


def _without_evidence(reason: ReasonHit) -> ReasonHit:
    return reason.model_copy(update={"evidence": ""})


def _without_answer(entry: ExpertInput) -> ExpertInput:
    return entry.model_copy(update={"answer": ""})


def without_evidence(reasons: list[ReasonHit]) -> list[ReasonHit]:
    """Assessed reasons without the text they quoted."""
    return [_without_evidence(r) for r in reasons]
