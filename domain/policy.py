"""The escalation policy: the schema of ``config/escalation.toml``.

Every duration, threshold, level and tier the engine uses is a field here and a
value in the config file; none lives in code. Parsing a mapping into this model is
pure; reading the file is the adapters' job (``baton.settings``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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


class Detection(_Strict):
    """The core's simple detection rules (the detection issue replaces them)."""

    amount_threshold: float = Field(gt=0)
    keywords: dict[str, dict[Name, list[Annotated[str, Field(min_length=2)]]]]
    """language -> reason -> phrases, matched case-insensitively on word boundaries."""


class Limits(_Strict):
    """Bounds that keep payloads and workflow histories healthy."""

    max_message_chars: int = Field(gt=0)
    max_text_field_chars: int = Field(gt=0)
    recent_messages: int = Field(gt=0)
    history_kept: int = Field(gt=0)
    dedupe_window: int = Field(gt=0)
    continue_as_new_after_events: int = Field(ge=100)


class Texts(_Strict):
    """Short texts the core sends, per language (``str.format`` placeholders)."""

    customer_handoff: dict[str, str]
    """language -> message to the customer when a human joins; placeholders {name}, {tier}."""

    @field_validator("customer_handoff")
    @classmethod
    def _renders(cls, templates: dict[str, str]) -> dict[str, str]:
        # Render once at load time so a broken template stops the worker, not a case.
        for language, template in templates.items():
            try:
                template.format(name="Ada", tier="specialist")
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
        missing_texts = [
            lang for lang in SERVED_LANGUAGES if lang not in self.texts.customer_handoff
        ]
        if missing_texts:
            raise ValueError(f"texts.customer_handoff needs {', '.join(missing_texts)}")
        return self

    def path(self, name: str) -> EscalationPath:
        """The path called ``name``, falling back to the default path."""
        return self.paths.get(name) or self.paths[self.default_path]
