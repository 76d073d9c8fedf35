"""Directory routing in the case: the rules (pure) and the workflow with the real
directory store and time skipping: offers, expiry, queueing, load that never leaks."""

import asyncio
from datetime import UTC, datetime, time, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from baton.store.cases import CaseStore
from baton.store.directory import DirectoryStore
from baton.temporal.client import BatonClient, CaseRequestRejected
from domain.calendar import BusinessCalendar, WorkingHours
from domain.case import CaseFile, CaseRuleViolation
from domain.detection import hit
from domain.directory import Presence, directory_from_policy
from domain.models import (
    AcceptRequest,
    DeclineRequest,
    DirectoryOp,
    IncomingMessage,
    ResolveRequest,
)
from domain.policy import EscalationPolicy
from domain.routing import RoutingDecision
from domain.states import CaseState, Severity, Tier
from tests.conftest import case_on, new_case, running_worker, stop_if_running
from tests.test_case_rules import at, open_case
from workflows.case import CaseWorkflow

SECOND = timedelta(seconds=1)


def _directory_case(
    policy: EscalationPolicy,
    reason: str = "explicit_human_request",
    language: str = "en",
    when: datetime | None = None,
) -> CaseFile:
    """A directory-routed case handed over for ``reason`` at ``when`` (default ``at(1)``)."""
    file = open_case(policy, language=language)
    message = IncomingMessage(message_id="m1", author="customer", text="please help")
    file.record_message(message, [hit(policy, reason, "phrase")], when or at(1))
    assert file.view.state is CaseState.HANDOFF
    return file


def _timers(file: CaseFile) -> list[str]:
    """The case's deadlines besides its escalation chain (tested on its own)."""
    return [d.name for d in file.view.deadlines if d.name != "escalation_chain"]


def _decision(agent: str | None, **fields: object) -> RoutingDecision:
    base: dict[str, object] = {
        "agent_id": agent,
        "team_id": "support-frontline",
        "candidates": [agent] if agent else [],
        "passed_over": {},
        "supervisor": "lead-support",
    }
    return RoutingDecision.model_validate(base | fields)


def test_handoff_waits_for_routing_then_offers(policy: EscalationPolicy) -> None:
    file = _directory_case(policy)
    v = file.view
    assert v.route_needed and v.offered_to is None
    request = file.routing_request(at(1))
    assert (request.path, request.tier, v.offer_no, request.exclude) == (
        "customer_support",
        Tier.FRONTLINE,
        1,
        [],
    )
    decision = _decision("anna", candidates=["anna", "ben"], agent_name="Anna Schmidt")
    notes = file.routed(decision, 1, at(1))
    assert v.offered_to == "anna"
    assert [n.event for n in notes] == ["case_offered", "handoff_customer_offered"]
    assert notes[1].body.startswith("Anna Schmidt (frontline) is joining this conversation")
    assert notes[1].channel == v.channel.value
    assert v.history[-1].cause == "offered to anna (1 other candidates)"
    assert _timers(file) == ["accept_timeout"]
    file.accept(AcceptRequest(agent_id="anna"), at(2))
    assert file.take_directory_ops() == [DirectoryOp(kind="accept", offer=1)]
    file.resolve(ResolveRequest(by="anna", resolution="done"), at(3))
    assert file.take_directory_ops() == [
        DirectoryOp(kind="release"),
        DirectoryOp(kind="performance", agent="anna", path="customer_support", minutes=1.0),
    ]


def test_expired_offer_releases_and_excludes_the_agent(policy: EscalationPolicy) -> None:
    file = _directory_case(policy)
    file.routing_request(at(1))
    file.routed(_decision("anna"), 1, at(1))
    timeout = policy.timers.accept_timeout.high
    file.deadline_due("accept_timeout", at(1) + timeout)
    assert file.take_directory_ops() == [DirectoryOp(kind="release", offer=1)]
    assert file.view.route_needed
    assert file.routing_request(at(9)).exclude == ["anna"]
    # Nobody else at the tier: up a tier, with a fresh list.
    file.routed(_decision(None, passed_over={"anna": "already offered this case"}), 2, at(9))
    assert file.view.tier is Tier.SPECIALIST and file.view.route_needed
    assert file.routing_request(at(9)).exclude == []


def test_nobody_available_queues_and_tells_the_supervisor_once(
    policy: EscalationPolicy,
) -> None:
    file = _directory_case(policy)
    file.routing_request(at(1))
    shift = at(1) + timedelta(hours=9)
    notes = file.routed(
        _decision(None, passed_over={"anna": "team off shift"}, retry_at=shift), 1, at(1)
    )
    v = file.view
    assert [(n.event, n.recipient) for n in notes] == [
        ("nobody_available", "lead-support"),
        ("handoff_customer_queued", "cust-42"),
    ]
    assert "within about 9 h" in notes[1].body
    assert v.history[-1].trigger == "queued" and "anna: team off shift" in v.history[-1].cause
    assert [(d.name, d.at) for d in v.deadlines if d.name != "escalation_chain"] == [
        ("queue_recheck", shift)
    ]
    # The recheck at the next shift routes again; still nobody: no second notice.
    file.deadline_due("queue_recheck", shift)
    assert v.route_needed
    file.routing_request(shift)
    assert file.routed(_decision(None), 2, shift) == []
    recheck = policy.routing.queue_recheck
    assert [(d.name, d.at) for d in v.deadlines if d.name != "escalation_chain"] == [
        ("queue_recheck", shift + recheck)
    ]
    file.agent_available()
    assert v.route_needed


def test_a_stale_routing_answer_gives_the_reservation_back(policy: EscalationPolicy) -> None:
    file = _directory_case(policy)
    file.routing_request(at(1))
    file.resolve(ResolveRequest(by="lead", resolution="solved meanwhile"), at(2))
    file.take_directory_ops()
    assert file.routed(_decision("anna"), 1, at(3)) == []
    assert file.take_directory_ops() == [DirectoryOp(kind="release", offer=1)]


# ------------------------------------------------------------------ the workflow
@pytest.fixture
def on(time_env: WorkflowEnvironment, policy, store, executor):
    return lambda case=None: case_on(time_env, policy, store, executor, case)


async def test_offers_follow_load_and_release_it_however_the_case_ends(
    on, time_env: WorkflowEnvironment, policy: EscalationPolicy, store: CaseStore
) -> None:
    directory = DirectoryStore(store.engine)
    async with on() as case:
        await case.say("I want to talk to a human")
        view = await case.view()
        assert view.offered_to == "anna"
        assert directory.loads()["anna"].active_cases == 1
        await time_env.sleep(policy.timers.accept_timeout.high + SECOND)
        view = await case.view()
        assert view.offered_to == "ben"
        loads = directory.loads()
        assert (loads["anna"].active_cases, loads["ben"].active_cases) == (0, 1)
        await case.accept("ben")
        await time_env.sleep(timedelta(minutes=20))  # within the first-response SLA
        await case.resolve("ben", escalation_necessary=True)
        assert directory.loads()["ben"].active_cases == 0
        assert directory.active_assignments() == []
        # The resolution feeds ben's record on the path (best-performance routing).
        ben = next(a for a in directory.directory().agents if a.id == "ben")
        record = ben.performance["customer_support"]
        assert record.cases == 1 and 20 <= (record.mean_resolution_minutes or 0) < 21


async def test_a_queued_case_is_offered_when_an_agent_becomes_available(
    on, policy: EscalationPolicy, store: CaseStore
) -> None:
    directory = DirectoryStore(store.engine)
    directory.seed(directory_from_policy(policy))
    for agent in ("anna", "ben", "clara"):
        directory.set_presence(agent, Presence.AWAY)
    async with on() as case:
        assessment = await case.say("I want to talk to a human")
        assert assessment.state is CaseState.HANDOFF
        view = await case.view()
        assert view.offered_to is None and view.queued_since is not None
        assert "queue_recheck" in [d.name for d in view.deadlines]
        for _ in range(50):  # the notify activity runs beside the case
            if "nobody_available" in {n.event for n in store.outbox(case.case_id)}:
                break
            await asyncio.sleep(0.05)
        assert "nobody_available" in {n.event for n in store.outbox(case.case_id)}
        directory.set_presence("clara", Presence.AVAILABLE)
        await case.handle.signal(CaseWorkflow.agent_available)
        for _ in range(50):
            view = await case.view()
            if view.offered_to:
                break
            await asyncio.sleep(0.05)
        assert view.offered_to == "clara"
        assert [e.trigger.value for e in view.history][-2:] == ["queued", "offered"]


def test_directory_from_policy_mirrors_the_agent_lists(policy: EscalationPolicy) -> None:
    directory = directory_from_policy(policy)
    frontline = directory.members("support-frontline")
    assert [a.id for a in frontline] == ["anna", "ben", "clara"]
    assert all(t.calendar.around_the_clock for t in directory.teams)
    assert new_case().customer.language in frontline[0].languages


def test_customer_messages_in_german_and_once_each(policy: EscalationPolicy) -> None:
    file = _directory_case(policy, language="de")
    file.routing_request(at(1))
    queued = file.routed(_decision(None, retry_at=at(21)), 1, at(1))
    assert queued[-1].body.startswith("Vielen Dank für Ihre Geduld") and "20 min" in queued[-1].body
    file.routing_request(at(21))
    offered = file.routed(
        _decision("anna", agent_name="Anna Schmidt", agent_title="Spezialistin"), 2, at(21)
    )
    assert offered[-1].body.startswith("Anna Schmidt (Spezialistin) übernimmt jetzt")
    file.deadline_due("accept_timeout", at(30))
    file.routing_request(at(30))
    again = file.routed(_decision("ben"), 3, at(30))
    assert [n.event for n in again] == ["case_offered"]  # the customer was told already


def test_decline_moves_on_at_once_and_only_the_offered_agent_may(
    policy: EscalationPolicy,
) -> None:
    file = _directory_case(policy)
    file.routing_request(at(1))
    file.routed(_decision("anna"), 1, at(1))
    with pytest.raises(CaseRuleViolation, match="offered to anna, not to the agent asking"):
        file.decline(DeclineRequest(agent_id="ben"), at(2))
    file.decline(DeclineRequest(agent_id="anna", reason="on a call"), at(2))
    assert file.view.history[-1].cause == "anna declined: on a call"
    assert file.take_directory_ops() == [DirectoryOp(kind="release", offer=1)]
    assert file.view.route_needed and file.routing_request(at(2)).exclude == ["anna"]


async def test_decline_through_the_workflow(on, store: CaseStore) -> None:
    async with on() as case:
        await case.say("I want to talk to a human")
        view = await case.baton.decline(case.case_id, "anna", "in a meeting")
        assert view.offered_to == "ben"
        assert DirectoryStore(store.engine).loads()["anna"].active_cases == 0
        with pytest.raises(CaseRequestRejected, match="offered to ben, not to the agent asking"):
            await case.baton.decline(case.case_id, "anna")


BERLIN_OFFICE = BusinessCalendar(
    timezone="Europe/Berlin",
    hours=[WorkingHours(days=[0, 1, 2, 3, 4], start=time(9), end=time(17))],
)
MONDAY_3PM_BERLIN = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def _accepted_case(policy: EscalationPolicy, severity: Severity) -> CaseFile:
    file = _directory_case(policy, when=MONDAY_3PM_BERLIN)
    file.view.severity = severity
    file.routing_request(MONDAY_3PM_BERLIN)
    decision = _decision("anna", calendar=BERLIN_OFFICE)
    file.routed(decision, 1, MONDAY_3PM_BERLIN)
    file.accept(AcceptRequest(agent_id="anna"), MONDAY_3PM_BERLIN)
    return file


def _deadline(file: CaseFile, name: str) -> datetime:
    return next(d.at for d in file.view.deadlines if d.name == name)


def test_sla_clocks_count_the_teams_working_hours(policy: EscalationPolicy) -> None:
    file = _accepted_case(policy, Severity.MEDIUM)
    # Medium: first response 1 h, resolution 1 d = 24 working hours = 3 office days.
    assert _deadline(file, "first_response_sla") == datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    # 2 h left on Monday, then 8 h Tue, Wed, and 6 h into Thursday (CET = UTC+1).
    assert _deadline(file, "resolution_sla") == datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
    summaries = {d.name: d.summary for d in file.view.deadlines}
    assert summaries["resolution_sla"] == "resolution SLA, medium, business hours: 1 d"


def test_a_team_working_too_little_for_an_sla_to_run_out_gets_no_such_deadline(
    policy: EscalationPolicy,
) -> None:
    # An hour a week: 3 working days of resolution SLA would take 72 weeks, past what
    # the calendar looks ahead. Raising there would fail each of the case's workflow
    # tasks; that clock simply has no deadline.
    hour = BusinessCalendar(hours=[WorkingHours(days=[5], start=time(9), end=time(10))])
    file = _directory_case(policy, when=MONDAY_3PM_BERLIN)
    file.view.severity = Severity.LOW
    file.routing_request(MONDAY_3PM_BERLIN)
    file.routed(_decision("anna", calendar=hour), 1, MONDAY_3PM_BERLIN)
    file.accept(AcceptRequest(agent_id="anna"), MONDAY_3PM_BERLIN)
    assert file.view.state is CaseState.HUMAN_HANDLING
    names = _timers(file)
    assert "resolution_sla" not in names and not any("@resolution_sla@" in n for n in names)
    # Four hours of first response fit: the fourth Saturday hour ends on 19 December.
    assert _deadline(file, "first_response_sla") == datetime(2026, 12, 19, 10, 0, tzinfo=UTC)
    assert file.next_deadline() is not None


def test_critical_cases_run_around_the_clock(policy: EscalationPolicy) -> None:
    file = _accepted_case(policy, Severity.CRITICAL)
    sla = policy.timers.resolution_sla.critical
    assert _deadline(file, "resolution_sla") == MONDAY_3PM_BERLIN + sla


def test_the_resolution_clock_pauses_while_waiting_on_the_customer(
    policy: EscalationPolicy,
) -> None:
    file = _accepted_case(policy, Severity.MEDIUM)
    before = _deadline(file, "resolution_sla")
    reply = IncomingMessage(message_id="a1", author="agent", text="Could you send a photo?")
    file.record_message(reply, [], MONDAY_3PM_BERLIN + timedelta(minutes=30))
    assert "resolution_sla" not in {d.name for d in file.view.deadlines}  # paused
    # The customer answers Tuesday 10:00 Berlin: 1.5 office hours passed Monday, 1 Tuesday.
    answer = IncomingMessage(message_id="c2", author="customer", text="Here it is")
    file.record_message(answer, [], datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    assert file.view.resolution_paused == timedelta(hours=2, minutes=30)
    assert _deadline(file, "resolution_sla") == BERLIN_OFFICE.add(
        before, timedelta(hours=2, minutes=30)
    )


def test_warning_before_the_breach_goes_to_assignee_and_team_lead_once(
    policy: EscalationPolicy,
) -> None:
    file = _accepted_case(policy, Severity.CRITICAL)
    sla = policy.timers.first_response_sla.critical
    [warning] = [d for d in file.view.deadlines if d.name.startswith("sla_warning@first")]
    assert warning.at == MONDAY_3PM_BERLIN + sla * 0.75
    notes = file.deadline_due(warning.name, warning.at)
    assert {(n.event, n.recipient) for n in notes} == {
        ("sla_warning", "anna"),
        ("sla_warning", "lead-support"),
    }
    assert "75% used" in notes[0].subject and "breach at" in notes[0].subject
    assert warning.name not in {d.name for d in file.view.deadlines}


async def test_consult_answer_through_the_workflow(on) -> None:
    async with on() as case:
        await case.say("Feature request: an export to SAP")
        view = await case.baton.consult_answer(
            case.case_id, "lena", "innovation_request", "Planned for Q3"
        )
        assert [e.answer for e in view.expert_input] == ["Planned for Q3"]
        with pytest.raises(CaseRequestRejected, match="no consult on 'fraud'"):
            await case.baton.consult_answer(case.case_id, "lena", "fraud", "?")


async def test_many_cases_at_once_never_exceed_capacity(
    time_env: WorkflowEnvironment, policy: EscalationPolicy, store: CaseStore, executor
) -> None:
    directory = DirectoryStore(store.engine)
    small = directory_from_policy(policy)
    small = small.model_copy(
        update={
            "agents": [
                a.model_copy(update={"max_cases": 2}) if a.team == "support-frontline" else a
                for a in small.agents
            ]
        }
    )
    directory.seed(small)
    async with running_worker(time_env.client, policy, store, executor) as worker:
        baton = BatonClient(time_env.client, worker.task_queue)
        cases = [new_case() for _ in range(12)]
        await asyncio.gather(*(baton.start_case(c) for c in cases))
        await asyncio.gather(
            *(
                baton.post_message(
                    c.case_id, {"message_id": "m1", "author": "customer", "text": "talk to a human"}
                )
                for c in cases
            )
        )
        views = [await baton.case(c.case_id) for c in cases]
        offered = [v.offered_to for v in views if v.offered_to]
        assert sorted(offered) == ["anna", "anna", "ben", "ben", "clara", "clara"]
        queued = [v for v in views if v.queued_since is not None]
        assert len(queued) == 6 and all(1 <= (v.queue_position or 0) <= 6 for v in queued)
        assert all("in line" in v.history[-1].cause for v in queued)
        assert directory.queue_length("customer_support", "frontline") == 6
        loads = directory.loads()
        assert all(loads[a].active_cases == 2 for a in ("anna", "ben", "clara"))
        for c in cases:
            await stop_if_running(time_env.client.get_workflow_handle(f"case-{c.case_id}"))


def test_the_paths_escalation_chain_runs_while_the_case_waits(
    policy: EscalationPolicy,
) -> None:
    file = open_case(policy)
    message = IncomingMessage(message_id="m1", author="customer", text="this is fraud")
    notes = file.record_message(message, [hit(policy, "fraud", "phrase 'fraud'")], at(1))[1]
    v = file.view
    assert ("chain_step", "compliance") in {(n.event, n.recipient) for n in notes}
    assert v.history[-1].cause == "chain run 1, step 1: compliance"
    assert v.chain_wake_at == at(6)
    # Five minutes later the on-call of the compliance rotation hears of it.
    later = file.deadline_due("escalation_chain", at(6))
    on_call = policy.on_call["compliance-duty"].on_call(at(6))
    assert [(n.recipient, n.recipient_kind) for n in later] == [(on_call, "on_call")]
    # Once someone accepts, the chain stops.
    file.routing_request(at(6))
    file.routed(_decision("ingrid", team_id="compliance"), 1, at(6))
    file.accept(AcceptRequest(agent_id="ingrid"), at(7))
    assert "escalation_chain" not in [d.name for d in file.view.deadlines]


async def test_escalation_chain_with_durable_timers(
    on, time_env: WorkflowEnvironment, policy: EscalationPolicy, store: CaseStore
) -> None:
    async with on() as case:
        await case.say("Someone used my card without my permission")
        await time_env.sleep(timedelta(minutes=16))
        view = await case.view()
        steps = [e.cause for e in view.history if e.trigger.value == "chain_step"]
        assert len(steps) == 3 and steps[-1].endswith("compliance-officer")
        for _ in range(50):
            recipients = {
                n.recipient for n in store.outbox(case.case_id) if n.event == "chain_step"
            }
            if "compliance-officer" in recipients:
                break
            await asyncio.sleep(0.05)
        assert {"compliance", "compliance-officer"} <= recipients


async def test_the_handoff_package_shows_the_customers_earlier_cases(
    time_env: WorkflowEnvironment, policy: EscalationPolicy, store: CaseStore, executor
) -> None:
    async with running_worker(time_env.client, policy, store, executor) as worker:
        baton = BatonClient(time_env.client, worker.task_queue)
        earlier = new_case()
        await baton.start_case(earlier)
        for _ in range(100):  # documented by its activity beside the case
            if store.case(earlier.case_id) is not None:
                break
            await asyncio.sleep(0.05)
        later = new_case()
        await baton.start_case(later)
        await baton.post_message(
            later.case_id, {"message_id": "m1", "author": "customer", "text": "talk to a human"}
        )
        view = await baton.case(later.case_id)
        assert view.handoff is not None
        assert [c.case_id for c in view.handoff.earlier_cases] == [earlier.case_id]
        assert view.handoff.earlier_cases[0].subject == earlier.subject
        for case in (earlier, later):
            await stop_if_running(time_env.client.get_workflow_handle(f"case-{case.case_id}"))


def test_skills_come_from_the_reason_and_a_skill_gap_goes_up_a_tier(
    policy: EscalationPolicy,
) -> None:
    file = _directory_case(policy, reason="legal_threat")
    request = file.routing_request(at(1))
    assert (request.path, request.tier, request.skills) == (
        "compliance",
        Tier.SPECIALIST,
        ["legal"],
    )
    gap = _decision(
        None,
        team_id="compliance",
        passed_over={"ingrid": "lacks skill legal", "jonas": "lacks skill legal"},
    )
    file.routed(gap, 1, at(1))
    assert file.view.tier is Tier.MANAGEMENT and file.view.route_needed
    assert file.view.history[-1].cause == "no specialist can take it"


def _broadcast(policy: EscalationPolicy) -> EscalationPolicy:
    routing = policy.routing.model_copy(update={"broadcast": True})
    return policy.model_copy(update={"routing": routing})


def test_broadcast_offers_everyone_and_the_first_to_accept_takes_it(
    policy: EscalationPolicy,
) -> None:
    file = _directory_case(_broadcast(policy))
    file.routing_request(at(1))
    notes = file.routed(_decision("anna", candidates=["anna", "ben", "clara"]), 1, at(1))
    offers = [n.recipient for n in notes if n.event == "case_offered"]
    assert offers == ["anna", "ben", "clara"] and file.view.broadcast_to == ["ben", "clara"]
    file.decline(DeclineRequest(agent_id="clara"), at(1))  # the others may still take it
    assert file.view.broadcast_to == ["ben"] and file.take_directory_ops() == []
    request = AcceptRequest(agent_id="ben")
    assert file.needs_claim(request) and not file.needs_claim(AcceptRequest(agent_id="anna"))
    offer = file.claim_offer()
    file.accept(request, at(2), claimed_offer=offer)
    assert file.take_directory_ops() == [
        DirectoryOp(kind="release", offer=1),  # anna's reservation goes back
        DirectoryOp(kind="accept", offer=2),
    ]
    assert file.view.assigned_agent == "ben" and file.view.broadcast_to == []
    with pytest.raises(CaseRuleViolation):
        file.check_accept(AcceptRequest(agent_id="clara"))


async def test_broadcast_accept_claims_a_slot_within_capacity(
    time_env: WorkflowEnvironment, policy: EscalationPolicy, store: CaseStore, executor
) -> None:
    directory = DirectoryStore(store.engine)
    directory.seed(directory_from_policy(policy))
    async with case_on(time_env, _broadcast(policy), store, executor) as case:
        await case.say("I want to talk to a human")
        view = await case.view()
        assert (view.offered_to, view.broadcast_to) == ("anna", ["ben", "clara"])
        # ben is full by now (another case took his last slots): his accept is refused.
        for i in range(100):
            if not directory.claim(f"other-{i}", 1, "ben"):
                break
        with pytest.raises(CaseRequestRejected, match="ben is at capacity"):
            await case.accept("ben")
        view = await case.accept("clara")
        assert (view.state, view.assigned_agent) == (CaseState.HUMAN_HANDLING, "clara")
        loads = directory.loads()
        assert (loads["anna"].active_cases, loads["clara"].active_cases) == (0, 1)
        assert [
            a.agent_id for a in directory.active_assignments() if a.case_id == case.case_id
        ] == ["clara"]


async def test_an_escalation_soon_after_a_resolution_counts_as_a_reopen(
    time_env: WorkflowEnvironment, policy: EscalationPolicy, store: CaseStore, executor
) -> None:
    directory = DirectoryStore(store.engine)
    async with running_worker(time_env.client, policy, store, executor) as worker:
        baton = BatonClient(time_env.client, worker.task_queue)
        first = new_case()
        await baton.start_case(first)
        await baton.post_message(
            first.case_id, {"message_id": "m1", "author": "customer", "text": "talk to a human"}
        )
        await baton.accept(first.case_id, "anna")
        await baton.resolve(
            first.case_id, {"by": "anna", "resolution": "fixed", "escalation_necessary": True}
        )
        for _ in range(100):  # documented as resolved by the activity beside the case
            row = store.case(first.case_id)
            if row is not None and row.outcome == "resolved_by_human":
                break
            await asyncio.sleep(0.05)
        again = new_case()
        await baton.start_case(again)
        await baton.post_message(
            again.case_id, {"message_id": "m1", "author": "customer", "text": "talk to a human"}
        )
        anna = next(a for a in directory.directory().agents if a.id == "anna")
        assert anna.performance["customer_support"].reopen_rate == 1.0
        view = await baton.case(again.case_id)
        assert view.handoff is not None
        assert view.handoff.earlier_cases[0].resolved_by == "anna"
        # Same customer, same path, within the repeat window: a linked repeat escalation.
        assert (view.repeat_of, view.repeat_number) == (first.case_id, 1)
        for case in (first, again):
            await stop_if_running(time_env.client.get_workflow_handle(f"case-{case.case_id}"))
