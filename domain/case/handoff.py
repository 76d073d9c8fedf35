"""HANDOFF: the case goes up the path's tiers and is routed, offered, queued, chained,
accepted or declined."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.case.base import CaseBase, CaseRuleViolation, path_name
from domain.chains import ChainPosition, walk
from domain.detection import hit, strongest
from domain.models import (
    AcceptRequest,
    CustomerHistoryRequest,
    CustomerTier,
    Deadline,
    DeclineRequest,
    DirectoryOp,
    EarlierCase,
    EscalateRequest,
    HandoffRecord,
    Notification,
    ReasonHit,
    ReassignRequest,
)
from domain.policy import CoreReason, TierStaff
from domain.routing import RoutingDecision, RoutingRequest
from domain.states import ACTIVE_STATES, WITH_A_TEAM, CaseState, EscalationLevel, Trigger
from domain.timers import human_duration


class HandoffRules(CaseBase):
    """The rules of HANDOFF."""

    def _hand_off(self, reason: ReasonHit, now: datetime, cause: str) -> list[Notification]:
        """Move the case to ``HANDOFF`` on the reason's path, at the level's start tier."""
        v = self.view
        level = max(v.level, reason.level, EscalationLevel.TAKEOVER)
        path = self.policy.path(reason.path)
        staff = path.start_staff(self.policy.matrix.start_tier(level))
        if v.tier is not None and reason.path == v.path and staff.tier.rank <= v.tier.rank:
            staff = path.staff(v.tier) or staff  # never step down a tier on the same path
        first = v.handoff_at is None
        if not first:
            v.transfers += 1
        v.level, v.path, v.pending_escalation = level, path_name(self.policy, reason.path), None
        self._assign_tier(staff, now)
        self._record(Trigger.ESCALATED, now, cause, reason=reason.name)
        out = [self._team_notice(staff, cause)]  # the customer hears once we know who or when
        if v.chain is None and v.path in self.policy.chains:
            out += self._walk_chain(ChainPosition(), now)
        return out + self._offer(now)

    def _raise_tier(self, now: datetime, cause: str) -> list[Notification]:
        v = self.view
        assert v.tier is not None
        staff = self._path().above(v.tier)
        if staff is None:
            return []
        v.transfers += 1
        self._assign_tier(staff, now)
        self._record(Trigger.ESCALATED, now, cause)
        return [self._team_notice(staff, cause), *self._offer(now)]

    def _assign_tier(self, staff: TierStaff, now: datetime) -> None:
        v = self.view
        self._withdraw_approval(now, f"the case moved to {staff.team} meanwhile")
        if v.offered_to or v.assigned_agent:
            self.directory_ops.append(DirectoryOp(kind="release"))
        v.offered_at_tier, v.queued_since, v.queue_recheck_at = [], None, None
        v.queue_position = None
        v.resolution_paused = timedelta(0)  # a new tier, a new clock
        v.tier, v.assigned_team = staff.tier, staff.team
        v.assigned_agent, v.offered_to, v.reassign_to = None, None, None
        v.tier_since = now
        v.handoff_at = v.handoff_at or now

    def check_escalate(self, request: EscalateRequest) -> None:
        """Manual escalation needs an active case and a tier left to go to."""
        v = self.view
        self._check_text("reason", request.reason)
        if v.state not in ACTIVE_STATES:
            raise CaseRuleViolation(f"case is {v.state.value}; only open cases can be escalated")
        if v.tier is not None and self._path().above(v.tier) is None:
            raise CaseRuleViolation(
                f"case is already at the highest tier ({v.tier.value}) of path {v.path}"
            )
        if v.pending_approval is not None:
            raise CaseRuleViolation(
                f"an escalation to {v.pending_approval.team} already waits for approval"
            )

    def escalate(self, request: EscalateRequest, now: datetime) -> list[Notification]:
        """Manual escalation: to a human from the AI, or to the next tier from a human."""
        self.check_escalate(request)
        cause = f"manual escalation by {request.by}: {request.reason}"
        if self.view.state is CaseState.AI_HANDLING:
            reason = hit(self.policy, CoreReason.MANUAL, cause)
            self._merge_reasons([reason])
            return self._done(self._hand_off(reason, now, cause))
        above = self._path().above(self._staff().tier)
        if above is not None and self._approval_needed(above, request.by):
            return self._done(self._ask_approval(above, now, cause, request.by))
        return self._done(self._raise_tier(now, cause))

    def check_reassign(self, request: ReassignRequest) -> None:
        """A case with a team goes to another agent, with a reason."""
        v = self.view
        self._check_text("reason", request.reason)
        if v.state not in WITH_A_TEAM:
            raise CaseRuleViolation(
                f"case is {v.state.value}; only a case with a team is reassigned"
            )
        holder = v.assigned_agent if v.state is CaseState.HUMAN_HANDLING else v.offered_to
        if request.agent_id == holder:
            raise CaseRuleViolation(f"case is already with {holder}")

    def reassign(self, request: ReassignRequest, now: datetime) -> list[Notification]:
        """A supervisor's choice: whoever holds the case lets go, and it is offered to
        ``agent_id`` (if they cannot take it, routing finds the next agent as usual)."""
        self.check_reassign(request)
        v = self.view
        cause = f"reassigned by {request.by} to {request.agent_id}: {request.reason}"
        self.directory_ops.append(DirectoryOp(kind="release"))
        v.assigned_agent, v.broadcast_to, v.reassign_to = None, [], request.agent_id
        v.accepted_at = v.first_response_at = v.awaiting_customer_since = None
        v.queued_since = v.queue_recheck_at = v.queue_position = None
        self._record(Trigger.REASSIGNED, now, cause)
        return self._done(self._offer(now))

    def history_request(self) -> CustomerHistoryRequest | None:
        """At the first handoff: look up the customer's earlier cases for the handoff
        package (None once known)."""
        v = self.view
        if v.handoff_at is None or v.earlier_cases is not None:
            return None
        return CustomerHistoryRequest(customer_id=v.customer.id, case_id=v.case_id)

    def set_earlier_cases(self, cases: list[EarlierCase], now: datetime) -> list[Notification]:
        """Keep the customer's earlier cases; the handoff package shows them. A recent
        human resolution on the same path that did not hold counts as a reopen; the
        latest earlier case on the same path within the repeat window is linked."""
        self.view.earlier_cases = cases
        self._link_repeat(cases)
        window = self.policy.routing.reopen_window
        for earlier in cases:
            recent = earlier.resolved_at is not None and now - earlier.resolved_at <= window
            if recent and earlier.resolved_by and earlier.path == self.view.path:
                self.directory_ops.append(
                    DirectoryOp(
                        kind="reopen",
                        agent=earlier.resolved_by,
                        path=earlier.path,
                        earlier_case=earlier.case_id,
                    )
                )
                break  # the latest resolution is the one that did not hold
        if self.view.handoff is not None:
            self.view.handoff = self._handoff_package()
        return []

    def _link_repeat(self, cases: list[EarlierCase]) -> None:
        v = self.view
        window = self.policy.follow_up.repeat_window
        same_topic = [
            c
            for c in cases
            if c.path == v.path and timedelta(0) <= v.opened_at - c.opened_at <= window
        ]
        if same_topic:
            latest = max(same_topic, key=lambda c: c.opened_at)
            v.repeat_of, v.repeat_number = latest.case_id, latest.repeat_number + 1

    def take_directory_ops(self) -> list[DirectoryOp]:
        """The reservation changes since the last call (the workflow applies them)."""
        ops, self.directory_ops = self.directory_ops, []
        return ops

    def routing_request(self, now: datetime) -> RoutingRequest:
        """Start routing offer ``offer_no + 1``: what the case needs from an agent."""
        v = self.view
        assert v.tier is not None
        v.offer_no += 1
        v.route_needed = False
        # The skills of the strongest reason on the case's path: a union of every
        # reason's skills could ask for a person who does not exist.
        top = strongest(r for r in v.reasons if r.path == v.path)
        rule = self.policy.reasons.get(top.name) if top else None
        skills = sorted(rule.skills) if rule else []
        return RoutingRequest(
            case_id=v.case_id,
            path=v.path,
            tier=v.tier,
            language=v.customer.language,
            channel=v.channel,
            skills=skills,
            vip=v.customer.tier is CustomerTier.VIP,
            exclude=[a for a in v.offered_at_tier if a != v.reassign_to],
            only=v.reassign_to,
            at=now,
        )

    def routed(self, decision: RoutingDecision, offer: int, now: datetime) -> list[Notification]:
        """The routing activity's answer for ``offer``: offer the case, or queue it."""
        v = self.view
        if v.state is not CaseState.HANDOFF or offer != v.offer_no or v.route_needed:
            # The case moved on while routing ran: give the reservation back.
            if decision.agent_id is not None:
                self.directory_ops.append(DirectoryOp(kind="release", offer=offer))
            return []
        wanted, v.reassign_to = v.reassign_to, None
        if wanted is not None and decision.agent_id is None:
            why = decision.passed_over.get(wanted, "not in a team that takes this case here")
            self._record(Trigger.REASSIGN_FAILED, now, f"{wanted} cannot take it ({why})")
            return self._done(self._offer(now))  # routed as usual
        if decision.agent_id is not None:
            return self._done(self._offer_to(decision, now))
        if v.offered_at_tier and not decision.candidates:
            return self._done(self._nobody_accepted_at_tier(decision, now))
        if _nobody_here_can(decision) and v.tier and self._path().above(v.tier):
            # Waiting would not help: nobody at this tier has the skills (or serves it).
            return self._done(self._raise_tier(now, f"no {v.tier.value} can take it"))
        return self._done(self._queue(decision, now))

    def agent_available(self) -> list[Notification]:
        """Someone became available: a queued case tries routing again at once."""
        v = self.view
        if v.state is CaseState.HANDOFF and v.queued_since is not None:
            v.route_needed = True
        return []

    def _offer(self, now: datetime) -> list[Notification]:
        # The workflow reserves an agent through the routing activity, then calls
        # :meth:`routed`; until then nobody holds the offer.
        v = self.view
        v.route_needed, v.offered_to, v.offered_at = True, None, None
        v.broadcast_to = []
        return []

    def _offer_to(self, decision: RoutingDecision, now: datetime) -> list[Notification]:
        v = self.view
        agent = decision.agent_id
        assert agent is not None
        v.offered_to, v.offered_at, v.reserved_offer = agent, now, v.offer_no
        v.broadcast_to = decision.candidates[1:] if self.policy.routing.broadcast else []
        v.offered_at_tier = [*v.offered_at_tier, agent, *v.broadcast_to]
        v.assigned_team = decision.team_id or v.assigned_team
        v.team_calendar, v.team_supervisor = decision.calendar, decision.supervisor
        v.queued_since = v.queue_recheck_at = v.queue_position = None
        v.handoffs += 1
        others = len(decision.candidates) - 1
        self._record(Trigger.OFFERED, now, f"offered to {agent} ({others} other candidates)")
        out = self._offer_notice(agent)
        for other in v.broadcast_to:  # the first to accept takes it
            out += self._offer_notice(other)
        if "offered" not in v.customer_told:
            role = decision.agent_title or (v.tier.value if v.tier else "")
            out.append(
                self._tell_customer("offered", agent=decision.agent_name or agent, role=role)
            )
        return out

    def _offer_notice(self, agent: str) -> list[Notification]:
        v = self.view
        assert v.tier is not None
        self._refresh_deadlines()
        v.handoff = self._handoff_package()
        at = v.offered_at or v.tier_since or v.opened_at
        self.new_handoffs.append(
            HandoffRecord(seq=v.history_seq, at=at, agent=agent, package=v.handoff)
        )
        return [
            self._notification(
                "case_offered",
                agent,
                "agent",
                f"[{v.case_id}] Case offered to you ({v.tier.value}, {v.severity.value})",
                {"handoff": v.handoff.model_dump(mode="json") if v.handoff else None},
            )
        ]

    def _nobody_accepted_at_tier(
        self, decision: RoutingDecision, now: datetime
    ) -> list[Notification]:
        v = self.view
        assert v.tier is not None
        if self._path().above(v.tier) is not None:
            return self._raise_tier(now, f"nobody at {v.tier.value} accepted")
        # The highest tier: tell its supervisor and start over with everyone.
        self._record(Trigger.NOBODY_ACCEPTED, now, f"nobody at {v.tier.value} accepted")
        v.offered_at_tier = []
        v.route_needed = True
        supervisor = decision.supervisor or self._staff().supervisor
        return [self._supervisor_notice("nobody_accepted", supervisor, decision)]

    def _queue(self, decision: RoutingDecision, now: datetime) -> list[Notification]:
        v = self.view
        v.offered_to = v.offered_at = None
        v.queue_recheck_at = decision.retry_at or now + self.policy.routing.queue_recheck
        v.queue_position = decision.queue_position
        if v.queued_since is not None:
            return []  # still waiting; the supervisor already knows
        v.queued_since = now
        why = "; ".join(f"{a}: {r}" for a, r in sorted(decision.passed_over.items())[:5])
        place = f", place {decision.queue_position} in line" if decision.queue_position else ""
        self._record(Trigger.QUEUED, now, f"nobody available{place} ({why or 'no team serves it'})")
        supervisor = decision.supervisor or self._staff().supervisor
        out = [self._supervisor_notice("nobody_available", supervisor, decision)]
        if "queued" not in v.customer_told:
            out.append(self._tell_customer("queued", eta=human_duration(v.queue_recheck_at - now)))
        return out

    def _tell_customer(self, moment: str, **values: str) -> Notification:
        """The transparent handoff message, in the customer's language and channel."""
        v = self.view
        v.customer_told = [*v.customer_told, moment]
        texts = self.policy.texts
        table = texts.customer_offered if moment == "offered" else texts.customer_queued
        language = v.customer.language.value
        tier = v.tier.value if v.tier else ""
        if language in table:
            body = table[language].format(name=v.customer.name or "", tier=tier, **values)
        else:  # a policy without these texts: the general handoff message
            body = texts.customer_handoff[language].format(name=v.customer.name or "", tier=tier)
        event = f"handoff_customer_{moment}"
        return self._notification(
            event, v.customer.id, "customer", body, dict(values), channel=v.channel.value
        )

    def _supervisor_notice(
        self, event: str, supervisor: str, decision: RoutingDecision
    ) -> Notification:
        v = self.view
        return self._notification(
            event,
            supervisor,
            "supervisor",
            f"[{v.case_id}] No agent can take the case ({v.path}, {v.severity.value})",
            {
                "team": decision.team_id,
                "severity": v.severity.value,
                "passed_over": decision.passed_over,
                "retry_at": decision.retry_at.isoformat() if decision.retry_at else None,
            },
        )

    def _continue_chain(self, deadline: Deadline, now: datetime) -> list[Notification]:
        assert self.view.chain is not None
        return self._walk_chain(self.view.chain, now)

    def _walk_chain(self, position: ChainPosition, now: datetime) -> list[Notification]:
        """Run the path's escalation chain from ``position``: notify, then sleep on it."""
        v = self.view
        chain = self.policy.chains[v.path]
        progress = walk(chain, position, now, self.policy.on_call)
        v.chain, v.chain_wake_at = progress.position, progress.wake_at
        if not progress.actions:
            return []
        who = ", ".join(a.recipient for a in progress.actions)
        step = progress.actions[0]
        self._record(
            Trigger.CHAIN_STEP, now, f"chain run {step.run + 1}, step {step.step + 1}: {who}"
        )
        return [
            self._notification(
                "chain_step",
                a.recipient,
                a.kind,
                f"[{v.case_id}] Waiting for someone to take it ({v.path}, {v.severity.value})",
                {"step": a.step, "run": a.run, "offered_to": v.offered_to},
            )
            for a in progress.actions
        ]

    def _recheck_queue(self, deadline: Deadline, now: datetime) -> list[Notification]:
        self.view.route_needed = True
        self.view.queue_recheck_at = None
        return []

    def _offer_expired(self, deadline: Deadline, now: datetime) -> list[Notification]:
        self._record(Trigger.OFFER_EXPIRED, now, f"{self.view.offered_to} did not accept in time")
        return self._next_offer(now)

    def _next_offer(self, now: datetime) -> list[Notification]:
        """The current offer ended without an accept: routing finds the next candidate
        (or, with nobody left at the tier, :meth:`routed` moves up a tier)."""
        self.directory_ops.append(DirectoryOp(kind="release", offer=self.view.reserved_offer))
        return self._offer(now)

    def check_accept(self, request: AcceptRequest) -> None:
        """Only the agent the case is offered to may accept, and only in ``HANDOFF``."""
        v = self.view
        if v.state is not CaseState.HANDOFF:
            raise CaseRuleViolation(f"case is {v.state.value}, not offered to anyone")
        if request.agent_id != v.offered_to and request.agent_id not in v.broadcast_to:
            # Never repeat the caller's value: a rejection names the rule, not the input.
            raise CaseRuleViolation(f"case is offered to {v.offered_to}, not to the agent asking")

    def needs_claim(self, request: AcceptRequest) -> bool:
        """A broadcast accept by someone other than the reserved agent: their slot must be
        claimed (within capacity) before the accept applies."""
        return (
            request.agent_id != self.view.offered_to and request.agent_id in self.view.broadcast_to
        )

    def claim_offer(self) -> int:
        """The offer number for a broadcast claim."""
        self.view.offer_no += 1
        return self.view.offer_no

    def accept(
        self, request: AcceptRequest, now: datetime, claimed_offer: int | None = None
    ) -> list[Notification]:
        """The offered agent accepts: the human owns the case from now on.

        ``claimed_offer``: a broadcast accept whose slot the workflow claimed; the slot
        reserved for the first candidate is given back.
        """
        self.check_accept(request)
        v = self.view
        if claimed_offer is not None:
            self.directory_ops.append(DirectoryOp(kind="release", offer=v.reserved_offer))
        offer = claimed_offer or v.reserved_offer
        self.directory_ops.append(DirectoryOp(kind="accept", offer=offer))
        v.assigned_agent, v.offered_to, v.broadcast_to = request.agent_id, None, []
        v.accepted_at, v.first_response_at, v.awaiting_customer_since = now, None, None
        self._record(Trigger.ACCEPTED, now, f"accepted by {request.agent_id}")
        return self._done([])

    def check_decline(self, request: DeclineRequest) -> None:
        """Only the agent the case is offered to may decline it."""
        self.check_accept(AcceptRequest(agent_id=request.agent_id))
        if request.reason:
            self._check_text("reason", request.reason)

    def decline(self, request: DeclineRequest, now: datetime) -> list[Notification]:
        """The offered agent declines: the case goes to the next candidate at once."""
        self.check_decline(request)
        cause = f"{request.agent_id} declined" + (f": {request.reason}" if request.reason else "")
        self._record(Trigger.OFFER_DECLINED, now, cause)
        v = self.view
        if request.agent_id in v.broadcast_to:
            # One of a broadcast's recipients: the others may still take it.
            v.broadcast_to = [a for a in v.broadcast_to if a != request.agent_id]
            return self._done([])
        return self._done(self._next_offer(now))


def _nobody_here_can(decision: RoutingDecision) -> bool:
    """No team serves the case at this tier, or every agent lacks a skill it needs."""
    reasons = decision.passed_over.values()
    return decision.team_id is None or (
        bool(decision.passed_over) and all(r.startswith("lacks skill") for r in reasons)
    )
