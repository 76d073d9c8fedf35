"""The case aggregate: every rule of how a customer case moves, in one place.

:class:`CaseFile` wraps the :class:`CaseView` and applies commands (a message, an
accept, a manual escalation, a resolution, a follow-up, a deadline that came due).
Each command validates first (raising :class:`CaseRuleViolation` and changing
nothing), then changes the state only through the transition table and returns the
notifications the change calls for. Time is always passed in, never read.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from domain.chains import ChainPosition, walk
from domain.detection import (
    DetectionContext,
    PriorTurn,
    demands_handoff_now,
    hit,
    max_severity,
    strongest,
)
from domain.models import (
    AcceptRequest,
    Assessment,
    AssessmentRecord,
    Author,
    CaseEvent,
    CaseInput,
    CaseSnapshot,
    CaseView,
    ConsultAnswer,
    CustomerHistoryRequest,
    CustomerTier,
    Deadline,
    DeclineRequest,
    DeliveryFailure,
    DirectoryOp,
    EarlierCase,
    EscalateRequest,
    ExpertInput,
    FollowUp,
    FollowUpRequest,
    HandoffPackage,
    HandoffRecord,
    IncomingMessage,
    MessageRecord,
    Notification,
    Outcome,
    ReasonHit,
    Resolution,
    ResolveRequest,
)
from domain.policy import CoreReason, EscalationPath, EscalationPolicy, TierStaff
from domain.routing import RoutingDecision, RoutingRequest
from domain.states import ACTIVE_STATES, CaseState, EscalationLevel, Tier, Trigger
from domain.states import next_state as table_next_state
from domain.summary import ExtractiveSummarizer, Summarizer
from domain.timers import (
    SLA_WARNING,
    DeadlineName,
    case_deadlines,
    human_duration,
    sla_calendar,
)


class CaseRuleViolation(ValueError):
    """A request the case's current state does not allow; nothing was changed."""


class CaseFile:
    """One customer case and the rules that move it."""

    def __init__(
        self,
        view: CaseView,
        policy: EscalationPolicy,
        seen_message_ids: Iterable[str] = (),
    ) -> None:
        """Wrap an existing view (a new case comes from :meth:`open`)."""
        self.view = view
        self.policy = policy
        self._seen = deque(seen_message_ids, maxlen=policy.limits.dedupe_window)
        self._seen_set = set(self._seen)
        self.new_events: list[CaseEvent] = []
        self.new_messages: list[MessageRecord] = []
        self.new_assessments: list[AssessmentRecord] = []
        self.new_handoffs: list[HandoffRecord] = []
        self.directory_ops: list[DirectoryOp] = []
        """Reservation changes for the workflow to apply through the routing activity."""
        self._refresh_deadlines()

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(cls, case: CaseInput, policy: EscalationPolicy, now: datetime) -> CaseFile:
        """Open a new case in ``AI_HANDLING``; raises :class:`CaseRuleViolation` on bad input."""
        limit = policy.limits.max_text_field_chars
        if len(case.subject) > limit:
            raise CaseRuleViolation(f"subject is longer than {limit} characters")
        view = CaseView(
            case_id=case.case_id,
            customer=case.customer,
            channel=case.channel,
            subject=case.subject,
            policy_version=policy.version,
            opened_at=now,
            path=policy.default_path,
            ai_since=now,
        )
        file = cls(view, policy)
        file._record(
            Trigger.OPENED, now, f"{case.channel.value} case for {case.customer.tier.value}"
        )
        return file

    # ----------------------------------------------------------------- reading
    @property
    def revision(self) -> int:
        """Grows with every change; documentation writes only newer revisions."""
        return self.view.history_seq + self.view.message_seq

    @property
    def closed(self) -> bool:
        """Whether the case has reached ``CLOSED``."""
        return self.view.state is CaseState.CLOSED

    @property
    def seen_message_ids(self) -> list[str]:
        """The recent message ids, kept for duplicate detection across runs."""
        return list(self._seen)

    def next_deadline(self) -> Deadline | None:
        """The nearest active deadline, if any."""
        return self.view.deadlines[0] if self.view.deadlines else None

    def search_attributes(self) -> dict[str, Any]:
        """Values of the case's custom search attributes."""
        v = self.view
        return {
            "CaseState": v.state.value,
            "EscalationLevel": int(v.level),
            "Severity": v.severity.value,
            "AssignedTeam": v.assigned_team or "",
            "CustomerTier": v.customer.tier.value,
            "EscalationReasons": sorted({r.name for r in v.reasons}),
            "SlaBreaches": v.sla_breaches,
        }

    def is_duplicate(self, message_id: str) -> bool:
        """Whether a message with this id was already recorded."""
        return message_id in self._seen_set

    # -------------------------------------------------------------- validation
    def check_message(self, message: IncomingMessage) -> None:
        """Reject a message the case cannot take."""
        if self.closed:
            raise CaseRuleViolation("case is closed; start a new case")
        limit = self.policy.limits.max_message_chars
        if len(message.text) > limit:
            raise CaseRuleViolation(f"text is longer than {limit} characters")

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

    def check_decline(self, request: DeclineRequest) -> None:
        """Only the agent the case is offered to may decline it."""
        self.check_accept(AcceptRequest(agent_id=request.agent_id))
        if request.reason:
            self._check_text("reason", request.reason)

    def check_consult_answer(self, request: ConsultAnswer) -> None:
        """Answers are for consults the AI asked for, while the case is being worked on."""
        v = self.view
        if v.state not in ACTIVE_STATES:
            raise CaseRuleViolation(f"case is {v.state.value}; it takes no expert input")
        if request.reason not in v.consulted:
            asked = ", ".join(v.consulted) or "nothing"
            known = request.reason in self.policy.reasons  # else it is the caller's word
            about = repr(request.reason) if known else "a reason the policy does not know"
            raise CaseRuleViolation(f"no consult on {about} (asked: {asked})")
        self._check_text("answer", request.answer)

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

    def check_resolve(self, request: ResolveRequest) -> None:
        """Resolve an open case; with a human owner, only they or their supervisor may."""
        v = self.view
        self._check_text("resolution", request.resolution)
        if request.root_cause:
            self._check_root_cause(request.root_cause)
        if v.state not in ACTIVE_STATES:
            raise CaseRuleViolation(f"case is {v.state.value}; it is already resolved")
        if v.state is CaseState.HUMAN_HANDLING and request.by not in self._owners():
            raise CaseRuleViolation(
                f"case is assigned to {v.assigned_agent}; only they can resolve it"
            )

    def _check_root_cause(self, root_cause: str) -> None:
        taxonomy = self.policy.follow_up.root_causes
        if taxonomy and root_cause not in taxonomy:
            raise CaseRuleViolation(
                f"root_cause must be one of the configured root causes: {', '.join(taxonomy)}"
            )

    def check_follow_up(self, request: FollowUpRequest) -> None:
        """Follow-up documentation is taken in ``FOLLOW_UP`` only, complete."""
        v = self.view
        self._check_text("root_cause", request.root_cause)
        self._check_root_cause(request.root_cause)
        self._check_text("lesson", request.lesson)
        if v.state is not CaseState.FOLLOW_UP:
            raise CaseRuleViolation(f"case is {v.state.value}, not in FOLLOW_UP")
        if v.handoff_at is not None and request.escalation_necessary is None:
            raise CaseRuleViolation(
                "escalation_necessary is required: this case was escalated to a human"
            )

    # ---------------------------------------------------------------- commands
    def detection_context(self, now: datetime) -> DetectionContext:
        """What the detector needs besides the message: the customer's recent turns (the
        policy's window, so the cost per message stays flat), the turn count, and the
        conversation's time (the AI's clock, paused while we wait on the customer)."""
        v = self.view
        window = self.policy.detection.sentiment.window
        customer_turns = [m for m in v.recent_messages if m.author is Author.CUSTOMER]
        return DetectionContext(
            language=v.customer.language,
            customer_tier=v.customer.tier,
            first_customer_message=v.customer_messages == 0,
            prior_turns=[
                PriorTurn(text=m.text, sentiment=m.sentiment) for m in customer_turns[-window:]
            ],
            turns=v.message_count,
            elapsed=self._conversation_time(now),
        )

    def _conversation_time(self, now: datetime) -> timedelta:
        # Time the customer spent waiting on us; their own pauses do not make it long.
        v = self.view
        running = v.awaiting_customer_since is None and v.state is CaseState.AI_HANDLING
        return v.ai_time_used + (max(now - v.ai_since, timedelta(0)) if running else timedelta(0))

    def record_message(
        self,
        message: IncomingMessage,
        hits: list[ReasonHit],
        now: datetime,
        *,
        sentiment: float | None = None,
        risk: float | None = None,
        assessed_by: tuple[str, str | None] = ("", None),
    ) -> tuple[Assessment, list[Notification]]:
        """Take one message and what detection found in it; decide what follows.
        ``assessed_by``: the detector's policy and model versions, for the record."""
        if self.is_duplicate(message.message_id):
            return self._assessment([], duplicate=True), []
        self.check_message(message)
        self._remember(message, now, sentiment)
        if risk is not None:
            self.view.risk = risk
        out: list[Notification] = []
        self._track_turns(message.author, now)
        assessed = message.author is Author.CUSTOMER and self.view.state in ACTIVE_STATES
        if self.view.state in ACTIVE_STATES and hits:
            self._merge_reasons(hits)
            out += self._decide(hits, now)
        self._refresh_deadlines()
        assessment = self._assessment(hits)
        if assessed:
            self.new_assessments.append(
                AssessmentRecord(
                    seq=self.view.message_seq,
                    message_id=message.message_id,
                    at=now,
                    level=assessment.level,
                    severity=assessment.severity,
                    escalate=assessment.escalate,
                    risk=assessment.risk,
                    sentiment=sentiment,
                    reasons=hits,
                    policy_version=assessed_by[0] or self.view.policy_version,
                    model_version=assessed_by[1],
                )
            )
        return assessment, out

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

    def consult_answer(self, request: ConsultAnswer, now: datetime) -> list[Notification]:
        """An expert's answer flows back into the case, for the AI and whoever takes over."""
        self.check_consult_answer(request)
        v = self.view
        entry = ExpertInput(by=request.by, reason=request.reason, answer=request.answer, at=now)
        v.expert_input = [*v.expert_input, entry]
        self._record(Trigger.CONSULT_ANSWERED, now, f"{request.by} answered on {request.reason}")
        return self._done([])

    def notifications_failed(
        self, failures: list[DeliveryFailure], now: datetime
    ) -> list[Notification]:
        """Deliveries that retrying cannot fix: on the case, in its history, never resent."""
        v = self.view
        known = {f.key for f in v.notification_failures}
        new = [f.model_copy(update={"at": now}) for f in failures if f.key not in known]
        if not new:
            return []
        v.notification_failures = [*v.notification_failures, *new]
        if self.closed:  # closed is final: the failures stay on the view and in the outbox
            return []
        for failure in new:
            self._record(
                Trigger.NOTIFICATION_FAILED,
                now,
                f"{failure.recipient} via {failure.channel or 'no channel'}: {failure.error}",
            )
        return []

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

    def escalate(self, request: EscalateRequest, now: datetime) -> list[Notification]:
        """Manual escalation: to a human from the AI, or to the next tier from a human."""
        self.check_escalate(request)
        cause = f"manual escalation by {request.by}: {request.reason}"
        if self.view.state is CaseState.AI_HANDLING:
            reason = hit(self.policy, CoreReason.MANUAL, cause)
            self._merge_reasons([reason])
            return self._done(self._hand_off(reason, now, cause))
        return self._done(self._raise_tier(now, cause))

    def resolve(self, request: ResolveRequest, now: datetime) -> list[Notification]:
        """The case is solved; it enters ``FOLLOW_UP`` (and closes if documented)."""
        self.check_resolve(request)
        v = self.view
        human = v.state is CaseState.HUMAN_HANDLING
        outcome = Outcome.RESOLVED_BY_HUMAN if human else Outcome.RESOLVED_BY_AI
        v.resolution = Resolution(
            by=request.by, resolution=request.resolution, at=now, outcome=outcome
        )
        v.outcome = outcome
        v.follow_up = FollowUp(
            by=request.by,
            root_cause=request.root_cause or None,
            escalation_necessary=request.escalation_necessary,
        )
        self._enter_follow_up(Trigger.RESOLVED, now, f"resolved by {request.by}")
        if self._follow_up_complete():
            self._record(Trigger.FOLLOW_UP_DOCUMENTED, now, f"documented by {request.by}")
        return self._done([])

    def complete_follow_up(self, request: FollowUpRequest, now: datetime) -> list[Notification]:
        """The resolver documents root cause and verdict; the case closes."""
        self.check_follow_up(request)
        self.view.follow_up = FollowUp(
            by=request.by,
            root_cause=request.root_cause,
            escalation_necessary=request.escalation_necessary,
            timing=request.timing,
            lesson=request.lesson,
        )
        self._record(Trigger.FOLLOW_UP_DOCUMENTED, now, f"documented by {request.by}")
        return self._done([])

    def deadline_due(self, name: str, now: datetime) -> list[Notification]:
        """A durable timer fired: apply the time-based escalation it stands for.

        A deadline that is no longer active (the state moved on meanwhile) is ignored.
        """
        current = next((d for d in self.view.deadlines if d.name == name), None)
        if current is None or current.at > now:
            return []
        if name.startswith(SLA_WARNING):
            return self._done(self._sla_warning(current, now))
        handler = {
            DeadlineName.AI_HANDLING_LIMIT: self._ai_limit_reached,
            DeadlineName.ACCEPT_TIMEOUT: self._offer_expired,
            DeadlineName.QUEUE_RECHECK: self._recheck_queue,
            DeadlineName.ESCALATION_CHAIN: self._continue_chain,
            DeadlineName.FIRST_RESPONSE_SLA: self._sla_breached,
            DeadlineName.RESOLUTION_SLA: self._sla_breached,
            DeadlineName.CUSTOMER_INACTIVITY: self._abandoned,
            DeadlineName.FOLLOW_UP_REMINDER: self._remind_follow_up,
            DeadlineName.FOLLOW_UP_DEADLINE: self._follow_up_expired,
        }[DeadlineName(name)]
        return self._done(handler(current, now))

    # --------------------------------------------------------- directory routing
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
            exclude=list(v.offered_at_tier),
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

    # ------------------------------------------------------------ the decisions
    def _decide(self, hits: list[ReasonHit], now: datetime) -> list[Notification]:
        v = self.view
        top = strongest(hits)
        assert top is not None
        severity = max_severity(v.severity, hits)
        raised = severity is not v.severity
        v.severity = severity
        if v.state is CaseState.AI_HANDLING:
            if demands_handoff_now(top):
                return self._hand_off(top, now, f"{top.name}: {top.evidence}")
            if top.level >= EscalationLevel.TAKEOVER:
                # Lower severities follow the timers: the AI handling limit hands it off.
                pending = v.pending_escalation
                v.pending_escalation = strongest([top] if pending is None else [top, pending])
            elif top.level is EscalationLevel.CONSULT and top.name not in v.consulted:
                return self._consult(top, now)
        elif top.level > v.level:
            return self._hand_off(top, now, f"{top.name}: {top.evidence}")
        if raised:
            self._record(Trigger.SEVERITY_RAISED, now, f"{top.name}: severity {severity.value}")
        return []

    def _consult(self, reason: ReasonHit, now: datetime) -> list[Notification]:
        v = self.view
        v.level = max(v.level, EscalationLevel.CONSULT)
        v.consulted = [*v.consulted, reason.name]
        expert = self.policy.path(reason.path).tiers[0]
        self._record(Trigger.CONSULT_REQUESTED, now, f"{reason.name}: ask {expert.team}")
        return [
            self._notification(
                "consult_requested",
                expert.team,
                "team",
                f"[{v.case_id}] The AI asks for your input: {reason.name}",
                {"reason": reason.model_dump(mode="json"), "subject": v.subject},
            )
        ]

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
        if v.offered_to or v.assigned_agent:
            self.directory_ops.append(DirectoryOp(kind="release"))
        v.offered_at_tier, v.queued_since, v.queue_recheck_at = [], None, None
        v.queue_position = None
        v.resolution_paused = timedelta(0)  # a new tier, a new clock
        v.tier, v.assigned_team = staff.tier, staff.team
        v.assigned_agent, v.offered_to = None, None
        v.tier_since = now
        v.handoff_at = v.handoff_at or now

    def _offer(self, now: datetime) -> list[Notification]:
        # The workflow reserves an agent through the routing activity, then calls
        # :meth:`routed`; until then nobody holds the offer.
        v = self.view
        v.route_needed, v.offered_to, v.offered_at = True, None, None
        v.broadcast_to = []
        return []

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

    # ------------------------------------------------------ deadline handlers
    def _ai_limit_reached(self, deadline: Deadline, now: datetime) -> list[Notification]:
        reason = self.view.pending_escalation or hit(
            self.policy, CoreReason.AI_HANDLING_LIMIT, f"not solved by the AI ({deadline.summary})"
        )
        self._merge_reasons([reason])
        return self._hand_off(reason, now, f"{deadline.summary} reached")

    def _offer_expired(self, deadline: Deadline, now: datetime) -> list[Notification]:
        self._record(Trigger.OFFER_EXPIRED, now, f"{self.view.offered_to} did not accept in time")
        return self._next_offer(now)

    def _next_offer(self, now: datetime) -> list[Notification]:
        """The current offer ended without an accept: routing finds the next candidate
        (or, with nobody left at the tier, :meth:`routed` moves up a tier)."""
        self.directory_ops.append(DirectoryOp(kind="release", offer=self.view.reserved_offer))
        return self._offer(now)

    def _sla_warning(self, deadline: Deadline, now: datetime) -> list[Notification]:
        """Before a breach: the assignee and the team lead hear how much time is left."""
        v = self.view
        v.sla_warned = [*v.sla_warned, deadline.name]
        _, sla, _, _ = deadline.name.split("@", 3)
        breach = next((d for d in v.deadlines if d.name == sla), None)
        subject = f"[{v.case_id}] {deadline.summary}" + (
            f"; breach at {breach.at:%Y-%m-%d %H:%M} UTC" if breach else ""
        )
        recipients = [(v.assigned_agent, "agent"), (v.team_supervisor, "supervisor")]
        return [
            self._notification("sla_warning", r, kind, subject, {"deadline": sla})
            for r, kind in recipients
            if r
        ]

    def _sla_breached(self, deadline: Deadline, now: datetime) -> list[Notification]:
        v = self.view
        staff = self._staff()
        v.sla_breaches += 1
        self._record(Trigger.SLA_BREACHED, now, f"{deadline.summary} breached")
        out = [
            self._notification(
                "sla_breached",
                recipient,
                kind,
                f"[{v.case_id}] {deadline.summary} breached",
                {"deadline": deadline.model_dump(mode="json"), "agent": v.assigned_agent},
            )
            for recipient, kind in ((staff.supervisor, "supervisor"), (v.assigned_agent, "agent"))
            if recipient
        ]
        if self._path().above(staff.tier) is not None:
            return out + self._raise_tier(now, f"{deadline.summary} breached")
        # Highest tier: nobody to hand up to, so restart the clock and keep reminding.
        if deadline.name == DeadlineName.FIRST_RESPONSE_SLA:
            v.accepted_at = now
        else:
            v.tier_since, v.resolution_paused = now, timedelta(0)
        return out

    def _abandoned(self, deadline: Deadline, now: datetime) -> list[Notification]:
        v = self.view
        v.outcome = Outcome.ABANDONED
        cause = f"{deadline.summary}: customer did not answer"
        if v.state is CaseState.AI_HANDLING:
            self._record(Trigger.ABANDONED, now, cause)
            return []
        v.resolution = Resolution(
            by="customer_inactivity", resolution=cause, at=now, outcome=Outcome.ABANDONED
        )
        v.follow_up = FollowUp(by=v.assigned_agent)
        self._enter_follow_up(Trigger.ABANDONED, now, cause)
        return []

    def _remind_follow_up(self, deadline: Deadline, now: datetime) -> list[Notification]:
        v = self.view
        v.follow_up_reminded = True
        self._record(Trigger.FOLLOW_UP_REMINDED, now, deadline.summary)
        owner = (v.follow_up.by if v.follow_up else None) or v.assigned_agent
        if owner is None:
            return []
        return [
            self._notification(
                "follow_up_reminder",
                owner,
                "agent",
                f"[{v.case_id}] Please document the follow-up",
                {"missing": self._missing_follow_up()},
            )
        ]

    def _follow_up_expired(self, deadline: Deadline, now: datetime) -> list[Notification]:
        v = self.view
        v.follow_up = (v.follow_up or FollowUp()).model_copy(
            update={"missing": self._missing_follow_up()}
        )
        self._record(Trigger.FOLLOW_UP_EXPIRED, now, f"{deadline.summary} passed")
        return []

    # ----------------------------------------------------------------- helpers
    def _record(
        self, trigger: Trigger, now: datetime, cause: str, reason: str | None = None
    ) -> CaseEvent:
        """Apply ``trigger`` through the transition table and append it to the history."""
        v = self.view
        to_state = table_next_state(v.state, trigger) if trigger is not Trigger.OPENED else v.state
        v.history_seq += 1
        event = CaseEvent(
            seq=v.history_seq,
            at=now,
            trigger=trigger,
            from_state=v.state,
            to_state=to_state,
            level=v.level,
            severity=v.severity,
            tier=v.tier,
            team=v.assigned_team,
            agent=v.assigned_agent or v.offered_to,
            cause=cause,
            reason=reason,
        )
        v.state = to_state
        v.history = [*v.history, event][-self.policy.limits.history_kept :]
        self.new_events.append(event)
        return event

    def _enter_follow_up(self, trigger: Trigger, now: datetime, cause: str) -> None:
        v = self.view
        v.offered_to = None
        v.follow_up_since = now
        v.awaiting_customer_since = None
        if v.handoff_at is not None:
            self.directory_ops.append(DirectoryOp(kind="release"))  # however the case ends
            v.route_needed, v.queued_since, v.queue_recheck_at = False, None, None
            v.queue_position = None
            if v.outcome is Outcome.RESOLVED_BY_HUMAN and v.assigned_agent and v.accepted_at:
                # The agent's record on this path feeds best-performance routing.
                minutes = (now - v.accepted_at).total_seconds() / 60
                self.directory_ops.append(
                    DirectoryOp(
                        kind="performance", agent=v.assigned_agent, path=v.path, minutes=minutes
                    )
                )
        self._record(trigger, now, cause)

    def _follow_up_complete(self) -> bool:
        return not self._missing_follow_up()

    def _missing_follow_up(self) -> list[str]:
        f = self.view.follow_up or FollowUp()
        missing = [] if f.root_cause else ["root_cause"]
        if self.view.handoff_at is not None and f.escalation_necessary is None:
            missing.append("escalation_necessary")
        return missing

    def _remember(
        self, message: IncomingMessage, now: datetime, sentiment: float | None = None
    ) -> None:
        v = self.view
        v.message_seq += 1
        v.message_count += 1
        if message.author is Author.CUSTOMER:
            v.customer_messages += 1
        record = MessageRecord(
            seq=v.message_seq, at=now, sentiment=sentiment, **message.model_dump()
        )
        v.recent_messages = [*v.recent_messages, record][-self.policy.limits.recent_messages :]
        self.new_messages.append(record)
        if len(self._seen) == self._seen.maxlen:
            self._seen_set.discard(self._seen[0])  # about to fall out of the window
        self._seen.append(message.message_id)
        self._seen_set.add(message.message_id)

    def _track_turns(self, author: Author, now: datetime) -> None:
        """Who waits on whom: the customer inactivity clock runs after our replies."""
        v = self.view
        if author is Author.CUSTOMER:
            if v.awaiting_customer_since is not None and v.state is CaseState.AI_HANDLING:
                v.ai_since = now  # the AI's clock runs again
            if v.awaiting_customer_since is not None and self._resolution_clock_pauses():
                # The resolution clock resumes; the wait does not count against the SLA.
                calendar = sla_calendar(v, self.policy)
                waited = (
                    calendar.between(v.awaiting_customer_since, now)
                    if calendar
                    else now - v.awaiting_customer_since
                )
                v.resolution_paused += waited
            v.awaiting_customer_since = None
            return
        if v.state not in (CaseState.AI_HANDLING, CaseState.HUMAN_HANDLING):
            return
        if v.state is CaseState.AI_HANDLING and v.awaiting_customer_since is None:
            v.ai_time_used += now - v.ai_since  # pause the AI's clock
        v.awaiting_customer_since = now
        human_turn = author is Author.AGENT and v.state is CaseState.HUMAN_HANDLING
        if human_turn and v.first_response_at is None:
            v.first_response_at = now
            self._record(Trigger.FIRST_RESPONSE, now, f"first response by {v.assigned_agent}")

    def _resolution_clock_pauses(self) -> bool:
        return self.view.state is CaseState.HUMAN_HANDLING

    def _merge_reasons(self, hits: list[ReasonHit]) -> None:
        merged = {r.name: r for r in self.view.reasons}
        merged.update({h.name: h for h in hits})
        self.view.reasons = list(merged.values())

    def _assessment(self, hits: list[ReasonHit], duplicate: bool = False) -> Assessment:
        v = self.view
        return Assessment(
            state=v.state,
            level=v.level,
            severity=v.severity,
            escalate=v.level >= EscalationLevel.TAKEOVER,
            reasons=hits,
            risk=v.risk,
            duplicate=duplicate,
        )

    def _done(self, notifications: list[Notification]) -> list[Notification]:
        self._refresh_deadlines()
        return notifications

    def _refresh_deadlines(self) -> None:
        self.view.deadlines = case_deadlines(self.view, self.policy)

    def _path(self) -> EscalationPath:
        return self.policy.path(self.view.path)

    def _staff(self) -> TierStaff:
        tier = self.view.tier or Tier.FRONTLINE
        path = self.policy.path(self.view.path)
        return path.staff(tier) or path.start_staff(tier)

    def _owners(self) -> set[str]:
        owners = {self._staff().supervisor}
        if self.view.assigned_agent:
            owners.add(self.view.assigned_agent)
        return owners

    def _check_text(self, field: str, value: str) -> None:
        limit = self.policy.limits.max_text_field_chars
        if len(value) > limit:
            raise CaseRuleViolation(f"{field} is longer than {limit} characters")

    def _handoff_package(self) -> HandoffPackage:
        v = self.view
        assert v.tier is not None
        ai_steps = [m.text for m in v.recent_messages if m.author is Author.AI][-5:]
        return HandoffPackage(
            subject=v.subject,
            customer=v.customer,
            channel=v.channel,
            level=v.level,
            severity=v.severity,
            path=v.path,
            tier=v.tier,
            reasons=v.reasons,
            # A reason from a newer detector than the case's policy still shows, by name.
            help_needed=[self._reason_description(r.name) for r in v.reasons],
            ai_steps=ai_steps,
            transcript=v.recent_messages,
            deadlines=case_deadlines(v, self.policy),
            summary=SUMMARIZER.summarize(v.recent_messages, [r.evidence for r in v.reasons]),
            risk=v.risk,
            impact=self._impact(),
            expert_input=v.expert_input,
            earlier_cases=v.earlier_cases or [],
        )

    def _impact(self) -> str:
        """What is at stake, in one line for the human taking over."""
        v = self.view
        parts = [f"severity {v.severity.value}", f"risk {v.risk:.0%}"]
        if v.customer.tier is CustomerTier.VIP:
            parts.append("VIP customer")
        amounts = [m.amount for m in v.recent_messages if m.amount is not None]
        if amounts:
            parts.append(f"amount {max(amounts):,.2f}")
        if v.sla_breaches:
            parts.append(f"{v.sla_breaches} SLA breach(es) so far")
        if v.transfers:
            parts.append(f"{v.transfers} transfer(s) so far")
        return ", ".join(parts)

    def _reason_description(self, name: str) -> str:
        rule = self.policy.reasons.get(name)
        return rule.description if rule and rule.description else name

    def _team_notice(self, staff: TierStaff, cause: str) -> Notification:
        v = self.view
        return self._notification(
            "case_escalated",
            staff.team,
            "team",
            f"[{v.case_id}] Escalated to {staff.team} ({staff.tier.value}, level {int(v.level)})",
            {"cause": cause, "severity": v.severity.value, "path": v.path},
        )

    def _notification(
        self,
        event: str,
        recipient: str,
        kind: str,
        subject: str,
        context: dict[str, Any],
        channel: str = "default",
    ) -> Notification:
        v = self.view
        return Notification(
            # Deterministic and attempt-independent: the history seq names the cause.
            key=f"{v.case_id}/{v.history_seq}/{event}/{recipient}",
            case_id=v.case_id,
            event=event,
            recipient=recipient,
            recipient_kind=kind,
            channel=channel,
            language=v.customer.language,
            subject=subject,
            body=subject,
            context=context,
            case=self.snapshot(),
        )

    def snapshot(self) -> CaseSnapshot:
        """The case as notifications describe it."""
        v = self.view
        return CaseSnapshot(
            case_id=v.case_id,
            subject=v.subject,
            customer_id=v.customer.id,
            customer_name=v.customer.name,
            customer_tier=v.customer.tier,
            customer_email=v.customer.email,
            language=v.customer.language,
            channel=v.channel,
            state=v.state,
            level=v.level,
            severity=v.severity,
            path=v.path,
            tier=v.tier,
            team=v.assigned_team,
            agent=v.assigned_agent,
            offered_to=v.offered_to,
            reasons=sorted({r.name for r in v.reasons}),
        )


def _nobody_here_can(decision: RoutingDecision) -> bool:
    """No team serves the case at this tier, or every agent lacks a skill it needs."""
    reasons = decision.passed_over.values()
    return decision.team_id is None or (
        bool(decision.passed_over) and all(r.startswith("lacks skill") for r in reasons)
    )


SUMMARIZER: Summarizer = ExtractiveSummarizer()
"""How handoff packages summarise the conversation (swap in an LLM-backed one here)."""


def path_name(policy: EscalationPolicy, name: str) -> str:
    """The configured path name, or the default path if ``name`` is unknown."""
    return name if name in policy.paths else policy.default_path
