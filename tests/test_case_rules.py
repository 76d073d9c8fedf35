"""The case aggregate's rules, unit-tested without Temporal."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.case import CaseFile, CaseRuleViolation
from domain.examples import routed
from domain.models import (
    AcceptRequest,
    Author,
    CaseInput,
    ConsultAnswer,
    EarlierCase,
    EscalateRequest,
    FollowUpRequest,
    IncomingMessage,
    Notification,
    Outcome,
    ReasonHit,
    ResolveRequest,
)
from domain.policy import EscalationPolicy
from domain.states import TRANSITIONS, CaseState, EscalationLevel, Severity, Tier, Trigger
from tests.conftest import detector_for

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def open_case(policy: EscalationPolicy, tier: str = "standard", language: str = "en") -> CaseFile:
    case = CaseInput.model_validate(
        {
            "case_id": "C-1001",
            "customer": {"id": "cust-42", "name": "Ada", "tier": tier, "language": language},
            "channel": "chat",
            "subject": "Payment charged twice",
        }
    )
    return CaseFile.open(case, policy, T0)


_counter = iter(range(1_000_000))


def say(
    file: CaseFile, text: str, when: datetime, author: str = "customer", amount: float | None = None
) -> list[Notification]:
    message = IncomingMessage(
        message_id=f"m{next(_counter)}", author=author, text=text, amount=amount
    )
    verdict = detector_for(file.policy).assess(message, file.detection_context(when))
    _, notifications = file.record_message(
        message, verdict.hits, when, sentiment=verdict.sentiment, risk=verdict.risk
    )
    return notifications + routed(file, when)


def _slas(file: CaseFile) -> list[str]:
    """The case's deadlines without the warnings before a breach (tested on their own)."""
    return sorted(d.name for d in file.view.deadlines if not d.name.startswith("sla_warning"))


def due(file: CaseFile, name: str, when: datetime) -> list[Notification]:
    """A deadline falls due, and the case is routed again as the workflow would."""
    return file.deadline_due(name, when) + routed(file, when)


def test_new_case_waits_in_ai_handling_on_the_ai_limit(policy: EscalationPolicy) -> None:
    file = open_case(policy)
    assert file.view.state is CaseState.AI_HANDLING
    [deadline] = file.view.deadlines
    assert deadline.name == "ai_handling_limit"
    assert deadline.at == T0 + policy.timers.ai_handling_limit.low
    assert deadline.summary == "AI handling limit, low: 2 h"


def test_explicit_request_hands_off_at_once(policy: EscalationPolicy) -> None:
    file = open_case(policy)
    say(file, "Where is my parcel?", at(1))
    say(file, "I checked the tracking page for you.", at(2), author="ai")
    notes = say(file, "I want to talk to a person", at(3))
    v = file.view
    assert (v.state, v.level, v.tier, v.assigned_team) == (
        CaseState.HANDOFF,
        EscalationLevel.TAKEOVER,
        Tier.FRONTLINE,
        "support-frontline",
    )
    assert v.offered_to == "anna"
    assert {(n.event, n.recipient) for n in notes} == {
        ("case_escalated", "support-frontline"),
        ("handoff_customer_offered", "cust-42"),  # who takes over, once routing knows
        ("case_offered", "anna"),
    }
    assert v.handoff is not None
    assert v.handoff.transcript[0].text == "Where is my parcel?"
    assert v.handoff.ai_steps == ["I checked the tracking page for you."]
    assert v.handoff.help_needed == ["The customer asked for a human"]
    # The opening request and the sentence that triggered the handoff, not the AI's turn.
    assert v.handoff.summary == "Where is my parcel? … I want to talk to a person"
    assert [d.name for d in v.deadlines] == ["accept_timeout", "escalation_chain"]
    deadline = v.deadlines[0]
    assert (
        deadline.name == "accept_timeout"
        and deadline.at == at(3) + policy.timers.accept_timeout.high
    )


def test_german_customer_gets_the_german_handoff_message(policy: EscalationPolicy) -> None:
    file = open_case(policy, language="de")
    notes = say(file, "Ich möchte einen Mitarbeiter sprechen", at(1))
    [customer] = [n for n in notes if n.recipient_kind == "customer"]
    assert customer.body.startswith("anna (frontline) übernimmt") and customer.channel == "chat"


def test_fraud_goes_to_compliance_specialists(policy: EscalationPolicy) -> None:
    file = open_case(policy)
    say(file, "There are unauthorized payments on my account", at(1))
    v = file.view
    assert (v.level, v.severity, v.path, v.tier, v.offered_to) == (
        EscalationLevel.FULL_TAKEOVER,
        Severity.CRITICAL,
        "compliance",
        Tier.SPECIALIST,
        "ingrid",
    )


def test_vip_follows_the_shorter_timer_then_hands_off(policy: EscalationPolicy) -> None:
    file = open_case(policy, tier="vip")
    say(file, "Hello, my invoice looks wrong", at(1))
    v = file.view
    assert v.state is CaseState.AI_HANDLING and v.severity is Severity.MEDIUM
    assert v.pending_escalation is not None and v.pending_escalation.name == "vip_customer"
    [deadline] = v.deadlines
    assert deadline.at == T0 + policy.timers.ai_handling_limit.medium
    due(file, "ai_handling_limit", deadline.at)
    assert v.state is CaseState.HANDOFF
    assert v.history[-2].trigger is Trigger.ESCALATED
    assert "AI handling limit, medium" in v.history[-2].cause


def test_routine_case_escalates_when_the_ai_limit_passes(policy: EscalationPolicy) -> None:
    file = open_case(policy)
    say(file, "How do I change my address?", at(1))
    limit = file.view.deadlines[0].at
    assert file.deadline_due("ai_handling_limit", limit - timedelta(seconds=1)) == []
    assert file.view.state is CaseState.AI_HANDLING
    file.deadline_due("ai_handling_limit", limit)
    assert file.view.state is CaseState.HANDOFF
    assert [r.name for r in file.view.reasons] == ["ai_handling_limit"]


def test_ai_limit_pauses_while_the_customer_is_the_one_to_answer(policy: EscalationPolicy) -> None:
    file = open_case(policy)
    say(file, "Can you explain my bill?", at(1))
    say(file, "Sure, which month?", at(2), author="ai")
    assert [d.name for d in file.view.deadlines] == ["customer_inactivity"]
    say(file, "October", at(5))
    assert [d.name for d in file.view.deadlines] == ["ai_handling_limit"]


def test_level_one_consults_an_expert_once_and_keeps_the_ai(policy: EscalationPolicy) -> None:
    file = open_case(policy)
    notes = say(file, "Feature request: an export to SAP", at(1))
    assert file.view.state is CaseState.AI_HANDLING
    assert file.view.level is EscalationLevel.CONSULT
    assert [(n.event, n.recipient) for n in notes] == [("consult_requested", "product-experts")]
    assert say(file, "Another feature request: dark mode", at(2)) == []


def test_the_experts_answer_flows_back_into_the_case(policy: EscalationPolicy) -> None:
    file = open_case(policy)
    say(file, "Feature request: an export to SAP", at(1))
    before = file.view.model_copy(deep=True)
    with pytest.raises(
        CaseRuleViolation, match=r"no consult on 'fraud' \(asked: innovation_request\)"
    ):
        file.consult_answer(ConsultAnswer(by="lena", reason="fraud", answer="x"), at(2))
    # A reason the policy does not know is the caller's word: not repeated.
    with pytest.raises(CaseRuleViolation, match="a reason the policy does not know") as err:
        file.consult_answer(ConsultAnswer(by="lena", reason="Zx9-words", answer="x"), at(2))
    assert "Zx9" not in str(err.value)
    assert file.view == before
    answer = ConsultAnswer(by="lena", reason="innovation_request", answer="On the Q3 roadmap")
    file.consult_answer(answer, at(2))
    v = file.view
    assert v.state is CaseState.AI_HANDLING and v.history[-1].trigger == "consult_answered"
    assert [(e.by, e.answer) for e in v.expert_input] == [("lena", "On the Q3 roadmap")]
    # Whoever takes over later sees it, with what is at stake.
    say(file, "I want to talk to a person", at(3), amount=250.0)
    assert file.view.handoff is not None
    assert file.view.handoff.expert_input == v.expert_input
    assert file.view.handoff.impact.startswith("severity high, risk ")
    assert "amount 250.00" in file.view.handoff.impact


def test_only_the_offered_agent_may_accept(policy: EscalationPolicy) -> None:
    file = open_case(policy)
    say(file, "talk to a human please", at(1))
    before = file.view.model_copy(deep=True)
    with pytest.raises(CaseRuleViolation, match="offered to anna, not to the agent asking"):
        file.accept(AcceptRequest(agent_id="ben"), at(2))
    assert file.view == before
    file.accept(AcceptRequest(agent_id="anna"), at(2))
    v = file.view
    assert (v.state, v.assigned_agent) == (CaseState.HUMAN_HANDLING, "anna")
    assert _slas(file) == ["first_response_sla", "resolution_sla"]


def test_agent_reply_meets_first_response_and_starts_inactivity(policy: EscalationPolicy) -> None:
    file = _accepted(policy)
    say(file, "Hi, I am Anna and I will sort this out.", at(5), author="agent")
    assert file.view.first_response_at == at(5)
    assert file.view.history[-1].trigger is Trigger.FIRST_RESPONSE
    # The resolution clock pauses while the customer is the one to answer.
    assert _slas(file) == ["customer_inactivity"]
    say(file, "Thanks, the charge is from 3 November.", at(7))
    assert _slas(file) == ["resolution_sla"]


def test_offers_walk_the_agents_then_the_tiers(policy: EscalationPolicy) -> None:
    file = open_case(policy)
    say(file, "talk to a human", at(0))
    offered = [file.view.offered_to]
    notes: list[Notification] = []
    for _ in range(8):
        deadline = next(d for d in file.view.deadlines if d.name == "accept_timeout")
        notes += due(file, deadline.name, deadline.at)
        offered.append(file.view.offered_to)
    assert offered == [
        "anna",
        "ben",
        "clara",  # frontline
        "alexander",
        "dora",  # specialist
        "maria",  # management
        "maria",
        "maria",
        "maria",  # nobody left above: keep offering, tell the supervisor
    ]
    assert file.view.tier is Tier.MANAGEMENT
    nobody = [n for n in notes if n.event == "nobody_accepted"]
    assert {n.recipient for n in nobody} == {"head-of-service"} and len(nobody) == 3


def test_sla_breach_moves_up_a_tier_and_notifies(policy: EscalationPolicy) -> None:
    file = _accepted(policy)
    sla = next(d for d in file.view.deadlines if d.name == "first_response_sla")
    notes = due(file, sla.name, sla.at)
    v = file.view
    assert (v.state, v.tier, v.offered_to, v.sla_breaches) == (
        CaseState.HANDOFF,
        Tier.SPECIALIST,
        "alexander",
        1,
    )
    assert {("sla_breached", "lead-support"), ("sla_breached", "anna")} <= {
        (n.event, n.recipient) for n in notes
    }


def test_manual_escalation(policy: EscalationPolicy) -> None:
    file = open_case(policy)
    file.escalate(EscalateRequest(by="ai-bot", reason="customer is upset"), at(1))
    assert file.view.state is CaseState.HANDOFF
    assert [r.name for r in file.view.reasons] == ["manual_escalation"]
    file.escalate(EscalateRequest(by="lead-support", reason="needs a specialist"), at(2))
    file.escalate(EscalateRequest(by="head-of-service", reason="needs management"), at(3))
    assert file.view.tier is Tier.MANAGEMENT  # the management tier's own supervisor: no approval
    before = file.view.model_copy(deep=True)
    with pytest.raises(CaseRuleViolation, match="highest tier"):
        file.escalate(EscalateRequest(by="x", reason="more"), at(4))
    assert file.view == before


def test_resolution_by_a_stranger_is_rejected(policy: EscalationPolicy) -> None:
    file = _accepted(policy)
    with pytest.raises(CaseRuleViolation, match="assigned to anna"):
        file.resolve(ResolveRequest(by="ben", resolution="done"), at(9))


def test_human_resolution_then_follow_up_closes(policy: EscalationPolicy) -> None:
    file = _accepted(policy)
    file.resolve(ResolveRequest(by="anna", resolution="refunded"), at(9))
    v = file.view
    assert (v.state, v.outcome) == (CaseState.FOLLOW_UP, Outcome.RESOLVED_BY_HUMAN)
    assert [d.name for d in v.deadlines] == ["follow_up_reminder", "follow_up_deadline"]
    with pytest.raises(CaseRuleViolation, match="escalation_necessary is required"):
        file.complete_follow_up(FollowUpRequest(by="anna", root_cause="billing_error"), at(10))
    file.complete_follow_up(
        FollowUpRequest(by="anna", root_cause="billing_error", escalation_necessary=True), at(10)
    )
    assert v.state is CaseState.CLOSED and v.deadlines == []
    with pytest.raises(CaseRuleViolation, match="closed"):
        say(file, "thanks!", at(11))


def test_fully_documented_resolution_closes_at_once(policy: EscalationPolicy) -> None:
    file = open_case(policy)
    request = ResolveRequest(by="ai-bot", resolution="answered", root_cause="how_to_question")
    file.resolve(request, at(1))
    assert file.view.state is CaseState.CLOSED
    assert file.view.outcome is Outcome.RESOLVED_BY_AI
    assert [e.trigger for e in file.view.history][-2:] == [
        Trigger.RESOLVED,
        Trigger.FOLLOW_UP_DOCUMENTED,
    ]


def test_root_cause_must_come_from_the_taxonomy(policy: EscalationPolicy) -> None:
    file = _accepted(policy)
    file.resolve(ResolveRequest(by="anna", resolution="refunded"), at(9))
    request = FollowUpRequest(by="anna", root_cause="gremlins", escalation_necessary=True)
    with pytest.raises(CaseRuleViolation, match="one of the configured root causes: billing_error"):
        file.complete_follow_up(request, at(10))
    assert file.view.state is CaseState.FOLLOW_UP and file.view.follow_up is not None
    assert file.view.follow_up.root_cause is None


def test_an_earlier_case_on_the_same_path_within_the_window_is_a_repeat(
    policy: EscalationPolicy,
) -> None:
    window = policy.follow_up.repeat_window

    def earlier(case_id: str, age: timedelta, path: str, repeats: int = 0) -> EarlierCase:
        return EarlierCase(
            case_id=case_id,
            subject="s",
            opened_at=T0 - age,
            state=CaseState.CLOSED,
            level=EscalationLevel.AI_ONLY,
            path=path,
            repeat_number=repeats,
        )

    file = open_case(policy)
    path = file.view.path
    file.set_earlier_cases(
        [
            earlier("C-new-other-path", timedelta(days=1), "compliance"),
            earlier("C-in-window", timedelta(days=2), path, repeats=1),
            earlier("C-older", window + timedelta(days=1), path),
        ],
        at(1),
    )
    assert (file.view.repeat_of, file.view.repeat_number) == ("C-in-window", 2)
    lonely = open_case(policy)
    lonely.set_earlier_cases([earlier("C-older", window + timedelta(days=1), path)], at(1))
    assert (lonely.view.repeat_of, lonely.view.repeat_number) == (None, 0)


def test_follow_up_reminder_then_deadline_marks_fields_missing(policy: EscalationPolicy) -> None:
    file = _accepted(policy)
    file.resolve(ResolveRequest(by="anna", resolution="refunded"), at(9))
    reminder, deadline = file.view.deadlines
    notes = file.deadline_due(reminder.name, reminder.at)
    assert [(n.event, n.recipient) for n in notes] == [("follow_up_reminder", "anna")]
    file.deadline_due(deadline.name, deadline.at)
    assert file.view.state is CaseState.CLOSED
    assert file.view.follow_up is not None
    assert file.view.follow_up.missing == ["root_cause", "escalation_necessary"]


def test_inactive_customer_abandons(policy: EscalationPolicy) -> None:
    file = open_case(policy)
    say(file, "hi", at(1))
    say(file, "How can I help?", at(2), author="ai")
    [deadline] = file.view.deadlines
    file.deadline_due(deadline.name, deadline.at)
    assert (file.view.state, file.view.outcome) == (CaseState.CLOSED, Outcome.ABANDONED)


def test_duplicates_change_nothing(policy: EscalationPolicy) -> None:
    file = open_case(policy)
    message = IncomingMessage(message_id="same", author="customer", text="hello")
    file.record_message(message, [], at(1))
    before = file.view.model_copy(deep=True)
    assessment, notes = file.record_message(message, [], at(2))
    assert assessment.duplicate and notes == [] and file.view == before


def test_duplicate_window_forgets_only_the_oldest_ids(policy: EscalationPolicy) -> None:
    small = policy.model_copy(
        update={"limits": policy.limits.model_copy(update={"dedupe_window": 3})}
    )
    file = CaseFile(open_case(policy).view, small)
    for i in range(4):
        file.record_message(IncomingMessage(message_id=f"id{i}", author="ai", text="x"), [], at(i))
    assert not file.is_duplicate("id0")  # fell out of the window
    assert all(file.is_duplicate(f"id{i}") for i in (1, 2, 3))
    assert file.seen_message_ids == ["id1", "id2", "id3"]


def test_outage_goes_to_the_it_incident_path(policy: EscalationPolicy) -> None:
    file = open_case(policy)
    say(file, "The whole portal is down!", at(1))
    v = file.view
    assert (v.path, v.assigned_team, v.offered_to) == ("it_incident", "it-service-desk", "mona")


def test_overlong_text_is_rejected(policy: EscalationPolicy) -> None:
    file = open_case(policy)
    text = "x" * (policy.limits.max_message_chars + 1)
    with pytest.raises(CaseRuleViolation, match="longer than"):
        file.record_message(
            IncomingMessage(message_id="m", author="customer", text=text), [], at(1)
        )
    assert file.view.message_count == 0


def _accepted(policy: EscalationPolicy) -> CaseFile:
    file = open_case(policy)
    say(file, "I need to speak to a human", at(1))
    file.accept(AcceptRequest(agent_id="anna"), at(2))
    return file


# ------------------------------------------------------------- any sequence
COMMANDS = st.lists(
    st.sampled_from(
        [
            "customer_routine",
            "customer_human",
            "customer_fraud",
            "ai_reply",
            "agent_reply",
            "accept_offered",
            "accept_stranger",
            "escalate",
            "resolve_owner",
            "resolve_stranger",
            "follow_up",
            "deadline",
        ]
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(commands=COMMANDS)
def test_any_command_sequence_follows_the_table(
    policy: EscalationPolicy, commands: list[str]
) -> None:
    file = open_case(policy)
    now = T0
    for step, command in enumerate(commands):
        now += timedelta(minutes=1)
        before = file.view.model_copy(deep=True)
        revision = file.revision
        try:
            now = _apply(file, command, now, step)
        except CaseRuleViolation:
            assert file.view == before, f"{command} was rejected but changed the case"
        assert file.revision >= revision
    for event in file.view.history[1:]:
        assert TRANSITIONS[(event.from_state, event.trigger)] is event.to_state
    seqs = [e.seq for e in file.view.history]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def _apply(file: CaseFile, command: str, now: datetime, step: int) -> datetime:
    v = file.view
    texts = {
        "customer_routine": ("customer", "where is my order"),
        "customer_human": ("customer", "talk to a human"),
        "customer_fraud": ("customer", "this is fraud"),
        "ai_reply": ("ai", "let me check"),
        "agent_reply": ("agent", "I am on it"),
    }
    if command in texts:
        author, text = texts[command]
        say(file, text, now, author=author)
    elif command == "accept_offered":
        file.accept(AcceptRequest(agent_id=v.offered_to or "nobody"), now)
    elif command == "accept_stranger":
        file.accept(AcceptRequest(agent_id="stranger"), now)
    elif command == "escalate":
        file.escalate(EscalateRequest(by="lead", reason="test"), now)
    elif command == "resolve_owner":
        file.resolve(ResolveRequest(by=v.assigned_agent or "ai-bot", resolution="ok"), now)
    elif command == "resolve_stranger":
        file.resolve(ResolveRequest(by="stranger", resolution="ok"), now)
    elif command == "follow_up":
        file.complete_follow_up(
            FollowUpRequest(by="x", root_cause="other", escalation_necessary=bool(step % 2)), now
        )
    elif command == "deadline" and v.deadlines:
        now = max(now, v.deadlines[0].at)
        file.deadline_due(v.deadlines[0].name, now)
    return now


def test_author_enum_is_the_wire_vocabulary() -> None:
    assert {a.value for a in Author} == {"customer", "ai", "agent"}


def test_ai_clock_pauses_while_waiting_on_the_customer(policy: EscalationPolicy) -> None:
    limit = policy.timers.ai_handling_limit.low
    file = open_case(policy)
    say(file, "Can you explain my bill?", at(10))
    say(file, "Sure, which month?", at(30), author="ai")  # 30 min of AI time used
    say(file, "October", at(24 * 60))  # the customer answers a day later
    [deadline] = file.view.deadlines
    assert deadline.name == "ai_handling_limit"
    assert deadline.at == at(24 * 60) + limit - timedelta(minutes=30)


def test_a_reason_unknown_to_the_cases_policy_still_reaches_the_handoff(
    policy: EscalationPolicy,
) -> None:
    # A newer detector may raise a reason the case's recorded policy does not know.
    file = open_case(policy)
    message = IncomingMessage(message_id="new-1", author="customer", text="hello")
    novel = ReasonHit(
        name="brand_new_signal", severity=Severity.CRITICAL, level=3, path="compliance"
    )
    file.record_message(message, [novel], at(1))
    routed(file, at(1))
    assert file.view.state is CaseState.HANDOFF
    assert file.view.handoff is not None
    assert file.view.handoff.help_needed == ["brand_new_signal"]
