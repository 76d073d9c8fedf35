"""Example notifications, produced by running real cases through the case rules.

The worker renders every notification template against these at start, so a template
that names a field an event does not carry fails then, not at 3 a.m. The examples come
from :class:`~domain.case.CaseFile` itself (no hand-written samples that could drift
from what the rules emit): a case handed off and left unaccepted until the timers
escalate it and time it out, a case that queues and then finds an agent, and a case
whose reason asks an expert.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.case import CaseFile, CaseRuleViolation
from domain.detection import demands_handoff_now, hit
from domain.directory import directory_from_policy
from domain.models import (
    AcceptRequest,
    ApprovalDecision,
    Author,
    CaseInput,
    Customer,
    EscalateRequest,
    IncomingMessage,
    Notification,
    ResolveRequest,
)
from domain.policy import EscalationPolicy
from domain.routing import RoutingDecision, route
from domain.states import CaseState, EscalationLevel

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
MAX_STEPS = 60


def example_notifications(policy: EscalationPolicy) -> list[Notification]:
    """Notifications of every kind the policy's cases can emit, in both languages."""
    out: list[Notification] = []
    for language in ("en", "de"):
        out += _timed_out_case(policy, language)
        out += _directory_case(policy, language)
        out += _consulted_case(policy, language)
        out += _approval_case(policy, language)
    return out


def _open(policy: EscalationPolicy, language: str, n: int, channel: str) -> CaseFile:
    case = CaseInput(
        case_id=f"EXAMPLE-{language}-{n}",
        customer=Customer(
            id="cust-example", name="Ada Example", language=language, email="ada@example.com"
        ),
        channel=channel,
        subject="Example case",
    )
    return CaseFile.open(case, policy, START)


def _message(file: CaseFile, reason: str, now: datetime) -> list[Notification]:
    n = file.view.message_seq + 1
    message = IncomingMessage(message_id=f"m{n}", author=Author.CUSTOMER, text="example")
    return file.record_message(message, [hit(file.policy, reason, "example")], now)[1]


def _handoff_reason(policy: EscalationPolicy, chained: bool = False) -> str | None:
    for name, rule in policy.reasons.items():
        reason = hit(policy, name, "example")
        on_chain = rule.path in policy.chains
        if demands_handoff_now(reason) and (on_chain or not chained):
            return name
    return None


def routed(file: CaseFile, now: datetime) -> list[Notification]:
    """What the workflow does after each change, for cases run without it: route the
    case in a directory of the policy's agent lists (everyone free, around the clock)
    until it is offered or queued, and take the reservation changes."""
    directory = directory_from_policy(file.policy)
    rules = file.policy.routing
    out: list[Notification] = []
    for _ in range(MAX_STEPS):
        if not (file.view.route_needed and file.view.state is CaseState.HANDOFF):
            break
        request = file.routing_request(now)
        decision = route(directory, {}, request, rules.strategy, rules.vip_team_first)
        out += file.routed(decision, file.view.offer_no, now)
    file.take_directory_ops()
    return out


def _timed_out_case(policy: EscalationPolicy, language: str) -> list[Notification]:
    """Offers time out up every tier; then accepted, SLAs breach, resolved and the
    follow-up reminder fires."""
    reason = _handoff_reason(policy)
    if reason is None:
        return []
    file = _open(policy, language, 1, "email")
    out = _message(file, reason, START)
    out += routed(file, START)
    now, accepted, resolved = START, False, False
    for _ in range(MAX_STEPS):
        v = file.view
        if (
            v.state is CaseState.HANDOFF
            and not accepted
            and any(n.event == "nobody_accepted" for n in out)
        ):
            assert v.offered_to is not None
            out += file.accept(AcceptRequest(agent_id=v.offered_to), now)
            accepted = True
        elif v.state is CaseState.HUMAN_HANDLING and v.sla_breaches and not resolved:
            out += file.resolve(
                ResolveRequest(by=v.assigned_agent or "agent", resolution="ok"), now
            )
            resolved = True
        deadline = file.next_deadline()
        if deadline is None or file.closed:
            break
        now = max(now, deadline.at)
        out += file.deadline_due(deadline.name, now)
        out += routed(file, now)
    return out


def _directory_case(policy: EscalationPolicy, language: str) -> list[Notification]:
    """Nobody free (queued, supervisor told, the chain runs), then an agent who lets the
    offer expire, nobody else, then one who takes it and runs into the SLA warnings."""
    reason = _handoff_reason(policy, chained=True) or _handoff_reason(policy)
    if reason is None:
        return []
    file = _open(policy, language, 2, "chat")
    out = _message(file, reason, START)
    now, accepted = START, False
    answers = iter(["nobody", "agent", "nobody", "agent"])
    for _ in range(MAX_STEPS):
        v = file.view
        if v.route_needed and v.state is CaseState.HANDOFF:
            file.routing_request(now)
            chained = any(n.event == "chain_step" for n in out) or file.policy.chains == {}
            answer = next(answers, "agent") if chained or v.queued_since is None else "nobody"
            out += file.routed(_decision(file, answer), v.offer_no, now)
            continue
        if v.offered_to and v.offer_no > 2 and not accepted:
            out += file.accept(AcceptRequest(agent_id=v.offered_to), now)
            accepted = True
        deadline = file.next_deadline()
        if deadline is None or file.closed or any(n.event == "sla_warning" for n in out):
            break
        now = max(now, deadline.at)
        out += file.deadline_due(deadline.name, now)
    return out


def _decision(file: CaseFile, answer: str) -> RoutingDecision:
    found = answer == "agent"
    return RoutingDecision(
        agent_id=f"example-agent-{file.view.offer_no}" if found else None,
        team_id=file.view.assigned_team,
        candidates=[f"example-agent-{file.view.offer_no}"] if found else [],
        passed_over={} if found else {"example-agent": "at capacity"},
        agent_name="Example Agent" if found else "",
        agent_title="Specialist" if found else "",
        supervisor="example-supervisor",
        retry_at=None if found else START + timedelta(hours=1),
        queue_position=None if found else 1,
    )


def _consulted_case(policy: EscalationPolicy, language: str) -> list[Notification]:
    """A reason at the consult level: the AI asks the experts."""
    for name in policy.reasons:
        if hit(policy, name, "example").level is EscalationLevel.CONSULT:
            file = _open(policy, language, 3, "chat")
            return _message(file, name, START)
    return []


def _approval_case(policy: EscalationPolicy, language: str) -> list[Notification]:
    """Escalated by hand tier by tier until the management tier's supervisor is asked;
    they approve."""
    file = _open(policy, language, 4, "chat")
    out: list[Notification] = []
    for _ in range(MAX_STEPS):
        pending = file.view.pending_approval
        if pending is not None:
            decision = ApprovalDecision(by=pending.supervisor, approve=True, reason="example")
            return out + file.decide_approval(decision, START)
        try:
            out += file.escalate(EscalateRequest(by="example-lead", reason="example"), START)
        except CaseRuleViolation:  # the highest tier, or no approvals configured
            return out
        out += routed(file, START)
    return out
