"""Ten documented cases with hand-known outcomes, built by the real case rules
(``domain.case``), for the KPI and report tests.

Week 1 (from Mon 2 Nov 2026): C-01..C-05, all solved by the AI in 5 minutes.
Week 2 (from Mon 9 Nov 2026): C-06 solved by the AI; four escalations:
- C-07 asks for a human at +2 min; first reply 10 min after the handoff; resolved at
  +62 min; necessary, on time.
- C-08 asks for a human at +2 min; first reply after 5 min; resolved at +32 min;
  judged unnecessary, too early.
- C-09 reports fraud at +1 min; first reply after 4 min; resolved at +121 min;
  necessary, too late (a missed escalation).
- C-10 is C-01's customer back on the same path: a repeat escalation, which also makes
  C-01 (closed by the AI) a missed escalation. Handoff at +2, reply after 2 min,
  resolved at +20; necessary, on time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.case import CaseFile
from domain.examples import routed
from domain.models import (
    AcceptRequest,
    CaseInput,
    CaseView,
    EarlierCase,
    EscalationTiming,
    FollowUpRequest,
    IncomingMessage,
    ResolveRequest,
)
from domain.policy import EscalationPolicy
from tests.conftest import detector_for

WEEK_1 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WEEK_2 = datetime(2026, 11, 9, 9, 0, tzinfo=UTC)


class _Case:
    def __init__(self, policy: EscalationPolicy, number: int, opened: datetime, customer: str):
        case = CaseInput.model_validate(
            {
                "case_id": f"C-{number:02d}",
                "customer": {"id": customer, "name": "Ada"},
                "channel": "chat",
                "subject": "Question",
            }
        )
        self.file = CaseFile.open(case, policy, opened)
        self.opened = opened
        self.detector = detector_for(policy)
        self.seq = 0

    def at(self, minutes: float) -> datetime:
        return self.opened + timedelta(minutes=minutes)

    def say(self, minutes: float, text: str, author: str = "customer") -> None:
        self.seq += 1
        message = IncomingMessage(message_id=f"m{self.seq}", author=author, text=text)
        when = self.at(minutes)
        verdict = self.detector.assess(message, self.file.detection_context(when))
        self.file.record_message(message, verdict.hits, when, sentiment=verdict.sentiment)
        routed(self.file, when)

    def ai_solves(self) -> CaseView:
        self.say(1, "How do I change my delivery address?")
        request = ResolveRequest(by="ai-bot", resolution="answered", root_cause="how_to_question")
        self.file.resolve(request, self.at(5))
        return self.file.view

    def human_solves(
        self, reply: float, resolved: float, necessary: bool, timing: EscalationTiming
    ) -> CaseView:
        agent = self.file.view.offered_to
        assert agent is not None, "the case was not offered to anyone"
        self.file.accept(AcceptRequest(agent_id=agent), self.at(self._handoff_minutes() + 1))
        self.say(self._handoff_minutes() + reply, "Hello, I am looking into it.", author="agent")
        self.file.resolve(ResolveRequest(by=agent, resolution="done"), self.at(resolved))
        request = FollowUpRequest(
            by=agent, root_cause="other", escalation_necessary=necessary, timing=timing
        )
        self.file.complete_follow_up(request, self.at(resolved + 10))
        return self.file.view

    def _handoff_minutes(self) -> float:
        assert self.file.view.handoff_at is not None
        return (self.file.view.handoff_at - self.opened).total_seconds() / 60


def month(policy: EscalationPolicy) -> list[CaseView]:
    """The ten documented cases, oldest first."""
    views = [
        _Case(policy, n, WEEK_1 + timedelta(days=n - 1), f"cust-{n}").ai_solves()
        for n in range(1, 6)
    ]
    views.append(_Case(policy, 6, WEEK_2, "cust-6").ai_solves())
    on_time, too_early, too_late = (
        EscalationTiming.ON_TIME,
        EscalationTiming.TOO_EARLY,
        EscalationTiming.TOO_LATE,
    )
    c7 = _Case(policy, 7, WEEK_2 + timedelta(hours=1), "cust-7")
    c7.say(2, "I want to talk to a human")
    views.append(c7.human_solves(10, 62, True, on_time))
    c8 = _Case(policy, 8, WEEK_2 + timedelta(hours=2), "cust-8")
    c8.say(2, "I want to talk to a human")
    views.append(c8.human_solves(5, 32, False, too_early))
    c9 = _Case(policy, 9, WEEK_2 + timedelta(hours=3), "cust-9")
    c9.say(1, "Someone used my card without my permission, this is fraud!")
    views.append(c9.human_solves(4, 121, True, too_late))
    c10 = _Case(policy, 10, WEEK_2 + timedelta(hours=4), "cust-1")
    c10.say(2, "I want to talk to a human")
    first = views[0]
    earlier = EarlierCase(
        case_id=first.case_id,
        subject=first.subject,
        opened_at=first.opened_at,
        state=first.state,
        level=first.level,
        path=c10.file.view.path,
    )
    c10.file.set_earlier_cases([earlier], c10.at(2))
    views.append(c10.human_solves(2, 20, True, on_time))
    return views
