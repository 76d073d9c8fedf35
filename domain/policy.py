"""The escalation policy: the schema of ``config/escalation.toml``.

Every duration, threshold, level and tier the engine uses is a field here and a
value in the config file; none lives in code. Parsing a mapping into this model is
pure; reading the file is the adapters' job (``baton.settings``).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.chains import EscalationChain, NotifyOnCall, OnCallSchedule
from domain.language import Language
from domain.states import EscalationLevel, Severity, Tier

SERVED_LANGUAGES = tuple(language.value for language in Language)
"""Languages every per-language table of the config must cover."""

Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")]
Positive = Annotated[timedelta, Field(gt=timedelta(0))]


class _Strict(BaseModel):
    """Config sections reject unknown keys, so a typo is reported, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SeverityDurations(_Strict):
    """One duration per severity (ISO 8601 in the file, e.g. ``PT30M``)."""

    low: Positive
    medium: Positive
    high: Positive
    critical: Positive

    def for_severity(self, severity: Severity) -> timedelta:
        """The duration configured for ``severity``."""
        value: timedelta = getattr(self, severity.value)
        return value


class Timers(_Strict):
    """Every time-based escalation, as configured durations."""

    ai_handling_limit: SeverityDurations
    accept_timeout: SeverityDurations
    first_response_sla: SeverityDurations
    resolution_sla: SeverityDurations
    customer_inactivity: Positive
    follow_up_reminder: Positive
    follow_up_deadline: Positive
    business_hours: list[Severity] = []
    """Severities whose SLA clocks count only the assigned team's working hours (directory
    routing); the others, typically critical, run around the clock."""
    sla_warnings: list[Annotated[float, Field(gt=0.0, lt=1.0)]] = []
    """Fractions of each SLA at which the assignee and the team lead are warned (0.75)."""

    @model_validator(mode="after")
    def _reminder_before_deadline(self) -> Self:
        if self.follow_up_reminder >= self.follow_up_deadline:
            raise ValueError("follow_up_reminder must be shorter than follow_up_deadline")
        return self


class ReasonRule(_Strict):
    """What a detection reason means: its severity, level and escalation path."""

    severity: Severity
    level: EscalationLevel
    path: Name
    immediate: bool = False
    """Escalate at once even below critical severity (e.g. the customer asks for a human)."""
    description: str = ""
    skills: list[Name] = []
    """Skills an agent needs to take a case for this reason (routing)."""


class TierStaff(_Strict):
    """Who works a case at one tier of a path (the routing issue replaces the list)."""

    tier: Tier
    team: Name
    agents: list[Name] = Field(min_length=1)
    supervisor: Name


class EscalationPath(_Strict):
    """A domain's chain of tiers, e.g. customer support or compliance to legal."""

    description: str = ""
    tiers: list[TierStaff] = Field(min_length=1)

    @field_validator("tiers")
    @classmethod
    def _ascending(cls, tiers: list[TierStaff]) -> list[TierStaff]:
        ranks = [t.tier.rank for t in tiers]
        if ranks != sorted(set(ranks)):
            raise ValueError(
                "tiers must be listed once each, frontline before specialist before management"
            )
        return tiers

    def staff(self, tier: Tier) -> TierStaff | None:
        """The staff of ``tier`` on this path, if the path has that tier."""
        return next((t for t in self.tiers if t.tier == tier), None)

    def start_staff(self, tier: Tier) -> TierStaff:
        """The first tier at or above ``tier`` (or the path's highest)."""
        for staff in self.tiers:
            if staff.tier.rank >= tier.rank:
                return staff
        return self.tiers[-1]

    def above(self, tier: Tier) -> TierStaff | None:
        """The next tier above ``tier``, if any."""
        return next((t for t in self.tiers if t.tier.rank > tier.rank), None)


class Matrix(_Strict):
    """Where each escalation level enters a path."""

    takeover_start_tier: Tier
    full_takeover_start_tier: Tier

    def start_tier(self, level: EscalationLevel) -> Tier:
        """The tier a case enters at ``level`` (2 or 3)."""
        if level >= EscalationLevel.FULL_TAKEOVER:
            return self.full_takeover_start_tier
        return self.takeover_start_tier


class ActivityTimeouts(_Strict):
    """How long side effects may take and how they retry (they retry until they succeed)."""

    start_to_close: Positive
    """Every activity (detection, ``notify``, ``document_case``), per attempt."""
    detection_attempts: int = Field(ge=1)
    """Detection is pure, so a failure is retried only this often, then the message is refused."""
    retry_initial_interval: Positive
    retry_maximum_interval: Positive
    retry_backoff: float = Field(ge=1.0)
    local_start_to_close: Positive = timedelta(seconds=2)
    """Decisions on the case's own path (policy, detection, routing) first run inside
    the workflow task as local activities, each attempt bounded by this."""
    local_schedule_to_start: Positive = timedelta(seconds=1)
    """... after waiting at most this long for a free local activity slot on the worker:
    a busy worker hands the decision to a regular activity rather than hold the task."""
    local_attempts: int = Field(default=2, ge=1)
    """... and this many attempts, before they fall back to a regular activity that
    retries on its own schedule (so an outage never holds the case's workflow task)."""
    local_per_workflow_task: int = Field(default=20, ge=1)
    """At most this many local activities in a row, then one regular activity, which
    ends the workflow task: a burst of messages never chains more into one task than
    it finishes before the server's timeout (10 s)."""


Phrase = Annotated[str, Field(min_length=2, max_length=200)]
PhraseTable = dict[str, dict[Name, list[Phrase]]]
"""language -> name -> phrases, matched case-insensitively on word boundaries; a phrase
ending in ``*`` also matches longer words (``betrug*`` finds "Betrugsversuch")."""

Unit = Annotated[float, Field(ge=0.0, le=1.0)]


class SentimentRules(_Strict):
    """Emotional peaks: how negative a message, or how steep a fall, fires the reason."""

    negative: float = Field(default=-0.6, ge=-1.0, le=0.0)
    """Fires when a message's compound sentiment (-1..1) is at or below this."""
    trend_drop: float = Field(default=0.8, gt=0.0, le=2.0)
    """Fires when a negative message falls this far below the mean of the earlier turns."""
    window: int = Field(default=5, ge=1, le=50)
    """Earlier customer turns looked at for the trend and for repetition."""


class IntensityRules(_Strict):
    """Shouting: capitals, exclamation marks and profanity, combined to a score 0..1."""

    threshold: Unit = 0.6
    caps_ratio: Unit = 0.6
    """Share of capitalised letters (in words of 3+ letters) that counts as shouting."""
    exclamations: int = Field(default=3, ge=1)
    """Exclamation marks that count as full intensity."""
    profanity: PhraseTable = {}
    """language -> "profanity" -> words; any one of them counts."""


class RepetitionRules(_Strict):
    """The customer asking the same thing again, in similar words."""

    similarity: float = Field(default=85.0, ge=50.0, le=100.0)
    """Token-set similarity (0..100) to an earlier turn that counts as a repeat."""
    min_words: int = Field(default=3, ge=1)
    """Shorter messages ("yes", "thanks") never count as repeats."""


class ComplexityRules(_Strict):
    """Several products or systems, or many distinct issues, in one case."""

    distinct_topics: int = Field(default=3, ge=2)
    """Distinct products or systems (across the window) that make a case complex."""
    many_issues: int = Field(default=4, ge=2)
    """Questions or listed points in one long message that make it complex."""
    long_message_chars: int = Field(default=800, ge=1)
    topics: PhraseTable = {}
    """language -> topic -> phrases naming that product or system."""


class LongConversationRules(_Strict):
    """A conversation the AI has not closed after this many turns or this long."""

    turns: int = Field(default=16, ge=2)
    elapsed: Positive = timedelta(minutes=45)


class RiskRules(_Strict):
    """The predictive risk score: a learned model combining all signals."""

    model: Annotated[str, Field(min_length=1, max_length=300)] = "risk-model.json"
    """The model file, relative to the policy file (written by ``baton detection train``)."""
    threshold: Unit = 0.5
    """Probability at or above which ``predicted_risk`` fires."""


class LearnedRules(_Strict):
    """The learned triggers: heads over a sentence embedding, beside the phrases."""

    model: Annotated[str, Field(max_length=300)] = ""
    """The trigger model file, relative to the policy file (written by ``baton detection
    train``); empty: phrases and signals only."""
    thresholds: dict[Name, Annotated[float, Field(gt=0.0, lt=1.0)]] = {}
    """reason -> the score at which its head fires, over the one it was trained with
    (a learning proposal moves them on documented cases)."""


class Detection(_Strict):
    """Detection thresholds and phrase tables (``domain.detector`` applies them)."""

    amount_threshold: float = Field(gt=0)
    keywords: PhraseTable
    """language -> reason -> phrases; every language's table is checked on every message,
    since customers switch languages."""
    sentiment: SentimentRules = SentimentRules()
    intensity: IntensityRules = IntensityRules()
    repetition: RepetitionRules = RepetitionRules()
    complexity: ComplexityRules = ComplexityRules()
    long_conversation: LongConversationRules = LongConversationRules()
    risk: RiskRules = RiskRules()
    learned: LearnedRules = LearnedRules()
    topic_paths: dict[Name, Name] = {}
    """topic -> path: a reason configured for the default path goes to the path of the
    products or systems the customer names instead (an urgent VPN problem to IT)."""


class RoutingStrategy(StrEnum):
    """How one agent is chosen among those who could take a case."""

    LEAST_LOADED = "least_loaded"
    LONGEST_IDLE = "longest_idle"
    BEST_PERFORMANCE = "best_performance"


class Routing(_Strict):
    """How cases find their agent in the directory."""

    strategy: RoutingStrategy = RoutingStrategy.LEAST_LOADED
    vip_team_first: bool = True
    """VIP cases go to a VIP team of the path and tier first, when one has someone free."""
    broadcast: bool = False
    """Offer to every candidate of the tier at once; the first to accept takes the case
    (its slot is claimed at the accept, within capacity)."""
    reopen_window: Positive = timedelta(days=7)
    """A new escalation of the same customer on the same path within this time after a
    human resolved the last one counts as a reopen against that agent."""
    queue_recheck: Positive = timedelta(minutes=15)
    """A queued case tries routing again after this at the latest (and at once when an
    agent becomes available, or when the next shift starts)."""


class FollowUpRules(_Strict):
    """What the resolver documents after a case, and how cases are linked for learning."""

    root_causes: list[Name] = []
    """The root-cause taxonomy; a follow-up must name one of these (empty: free text)."""
    repeat_window: Positive = timedelta(days=30)
    """A case of the same customer and path opened within this after an earlier one is
    a repeat: linked to it and counted in the KPIs."""


class ApprovalTimeout(StrEnum):
    """What happens when the management tier's supervisor does not answer in time."""

    ESCALATE = "escalate"
    """The case goes up as if approved: silence must not strand a case below management."""
    STAY = "stay"
    """The case stays at its tier, as if denied."""


class Approvals(_Strict):
    """Non-urgent escalations to the management tier, by timer or by hand, wait for the
    approval of that tier's supervisor. Handoffs from the AI and moves forced by routing
    (nobody at the tier can take the case) never wait: a customer must not be left with
    nobody."""

    urgent_from: Severity = Severity.CRITICAL
    """Cases of this severity and above go up at once (critical cases always do)."""
    timeout: Positive = timedelta(minutes=30)
    """How long the supervisor has to answer."""
    on_timeout: ApprovalTimeout = ApprovalTimeout.ESCALATE

    def needed(self, severity: Severity, tier: Tier) -> bool:
        """Whether going up to ``tier`` at ``severity`` needs an approval."""
        return tier is Tier.MANAGEMENT and severity.rank < self.urgent_from.rank


class Limits(_Strict):
    """Bounds that keep payloads and workflow histories healthy."""

    max_message_chars: int = Field(gt=0)
    max_text_field_chars: int = Field(gt=0)
    recent_messages: int = Field(gt=0)
    history_kept: int = Field(gt=0)
    dedupe_window: int = Field(gt=0)
    continue_as_new_after_events: int = Field(ge=100)
    continue_as_new_after_messages: int = Field(default=500, ge=10)
    """... or after this many messages in one run: a run replays in a new worker (or
    after an eviction) within one workflow task, which the server times out after 10 s.
    With local activities a message costs few events, so the events alone would let a
    run grow to about 3,000 messages."""
    documentation_window: timedelta = Field(default=timedelta(seconds=2), ge=timedelta(0))
    """An unwritten change older than this is documented when the case next wakes (a
    later change, a timer), with all that waits; the opening, transitions, a message
    that fired a reason and the close at once; 0 documents every change on its own.
    Fewer writes, no timer in the history."""


_SAMPLE = {
    "name": "Ada",
    "tier": "specialist",
    "agent": "Alexander Wolf",
    "role": "specialist",
    "eta": "20 min",
}


class Texts(_Strict):
    """Short texts the core sends, per language (``str.format`` placeholders)."""

    customer_handoff: dict[str, str]
    """language -> message to the customer when a human joins and the offered or queued
    text has none for the language; placeholders {name}, {tier}."""
    customer_offered: dict[str, str] = {}
    """language -> who joins: {name}, {agent}, {role} (title or tier)."""
    customer_queued: dict[str, str] = {}
    """language -> nobody free yet: {name}, {tier}, {eta}."""

    @field_validator("customer_handoff", "customer_offered", "customer_queued")
    @classmethod
    def _renders(cls, templates: dict[str, str]) -> dict[str, str]:
        # Render once at load time so a broken template stops the worker, not a case.
        for language, template in templates.items():
            try:
                template.format(**_SAMPLE)
            except (KeyError, IndexError, ValueError) as err:
                raise ValueError(f"template for {language!r} does not render: {err!r}") from None
        return templates


class CoreReason:
    """Reason names the engine itself raises; each must be configured under [reasons]."""

    MANUAL = "manual_escalation"
    AI_HANDLING_LIMIT = "ai_handling_limit"
    HIGH_AMOUNT = "high_amount"
    VIP = "vip_customer"

    ALL = (MANUAL, AI_HANDLING_LIMIT, HIGH_AMOUNT, VIP)


class SignalReason:
    """Reason names the detector raises from its signals; each fires only where [reasons]
    configures it (a policy without one simply never raises it)."""

    NEGATIVE_SENTIMENT = "negative_sentiment"
    INTENSITY = "emotional_intensity"
    REPETITION = "repetition"
    COMPLEXITY = "complexity"
    LONG_CONVERSATION = "long_conversation"
    PREDICTED_RISK = "predicted_risk"

    ALL = (NEGATIVE_SENTIMENT, INTENSITY, REPETITION, COMPLEXITY, LONG_CONVERSATION, PREDICTED_RISK)


class EscalationPolicy(_Strict):
    """The whole validated configuration the engine runs on.

    Every case records the policy it started with (see ``activities.policy``) and
    decodes it again on replay: a field added to this schema later must have a
    default, or old histories no longer replay (the stored corpus test catches it).
    """

    version: Name
    default_path: Name
    timers: Timers
    matrix: Matrix
    activities: ActivityTimeouts
    reasons: dict[Name, ReasonRule]
    paths: dict[Name, EscalationPath]
    detection: Detection
    limits: Limits
    texts: Texts
    routing: Routing = Routing()
    chains: dict[Name, EscalationChain] = {}
    """path -> the escalation chain walked while a handed-over case waits."""
    on_call: dict[Name, OnCallSchedule] = {}
    """Rotations the chains' ``notify_on_call`` steps name."""
    follow_up: FollowUpRules = FollowUpRules()
    approvals: Approvals | None = None
    """None: escalations to management need no approval (a case keeps the policy it
    started with, so cases started without approvals keep going up at once)."""

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        if self.default_path not in self.paths:
            raise ValueError(f"default_path {self.default_path!r} is not among [paths]")
        for name, rule in self.reasons.items():
            if rule.path not in self.paths:
                raise ValueError(f"reasons.{name}.path {rule.path!r} is not among [paths]")
        missing = [r for r in CoreReason.ALL if r not in self.reasons]
        if missing:
            raise ValueError(f"[reasons] must configure {', '.join(missing)}")
        for language, table in self.detection.keywords.items():
            for reason in table:
                if reason not in self.reasons:
                    raise ValueError(
                        f"detection.keywords.{language}.{reason} names no reason in [reasons]"
                    )
        for path_name, chain in self.chains.items():
            if path_name not in self.paths:
                raise ValueError(f"chains.{path_name} names no path in [paths]")
            for step in chain.steps:
                if isinstance(step, NotifyOnCall) and step.schedule not in self.on_call:
                    schedule = step.schedule
                    raise ValueError(f"chains.{path_name}: no [on_call.{schedule}] schedule")
        for topic, path in self.detection.topic_paths.items():
            if path not in self.paths:
                raise ValueError(f"detection.topic_paths.{topic} {path!r} is not among [paths]")
        missing_texts = [
            lang for lang in SERVED_LANGUAGES if lang not in self.texts.customer_handoff
        ]
        if missing_texts:
            raise ValueError(f"texts.customer_handoff needs {', '.join(missing_texts)}")
        return self

    def path(self, name: str) -> EscalationPath:
        """The path called ``name``, falling back to the default path."""
        return self.paths.get(name) or self.paths[self.default_path]

    def for_case(self) -> EscalationPolicy:
        """The copy a case carries in its history: without the phrase tables, which only
        the detector reads (the detection activity uses the worker's own), so every
        case's history and continue-as-new payload is about 7 KB smaller."""
        complexity = self.detection.complexity.model_copy(update={"topics": {}})
        detection = self.detection.model_copy(update={"keywords": {}, "complexity": complexity})
        return self.model_copy(update={"detection": detection})


SHARED_POLICIES = 8
"""How many policies (the newest ones) :func:`shared` keeps for cases to share."""

_shared: dict[str, EscalationPolicy] = {}
_sharing = threading.Lock()  # cases run their workflow tasks on several threads


def shared(policy: EscalationPolicy) -> EscalationPolicy:
    """``policy``, or an equal one that other cases of this process already hold.

    Each case decodes its own copy of the policy from its history, some 360 tracked
    objects and 100 KiB: with a thousand cases held, a third of what the worker keeps
    and what each full garbage collection walks. The model is frozen and no rule
    changes it, so equal copies can be one. A policy that differs from the one kept
    under its version is returned as it is and kept instead.
    """
    with _sharing:
        kept = _shared.get(policy.version)
        if kept is not None and kept == policy:
            return kept
        _shared.pop(policy.version, None)
        _shared[policy.version] = policy  # the newest last
        while len(_shared) > SHARED_POLICIES:
            del _shared[next(iter(_shared))]
    return policy
