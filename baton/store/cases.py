"""The documentation store: every case on record, and the notification outbox.

sqlmodel tables on SQLite by default (``.data/baton.db``) or any SQLAlchemy URL
(``BATON_DATABASE_URL=postgresql+psycopg://...``). Every write is idempotent, so a
retried activity or a replayed workflow never duplicates a row.

Personal data: the ``message`` table holds the customer's texts, the ``case`` table
the customer's name inside ``view_json``, and the ``outbox`` and ``delivery`` tables
what notifications said (the handoff package quotes the conversation); nothing else
stores them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Column, Engine, Text, and_, delete, event, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, create_engine, select

from baton.store.ratings import HandoffRatingRow
from baton.store.schema import migrate
from domain.models import AssessmentRecord, CaseRecordBatch, CaseView, Notification, ReasonHit
from domain.retention import anonymised, without_evidence
from domain.states import CaseState


class CaseRow(SQLModel, table=True):
    """The current record of one case (newest revision wins)."""

    __tablename__ = "case"
    case_id: str = Field(primary_key=True)
    revision: int
    state: str = Field(index=True)
    level: int
    severity: str
    path: str
    tier: str | None = None
    assigned_team: str | None = Field(default=None, index=True)
    assigned_agent: str | None = None
    customer_id: str = Field(index=True)
    customer_tier: str
    language: str
    channel: str
    outcome: str | None = None
    opened_at: datetime
    updated_at: datetime
    view_json: str = Field(sa_column=Column(Text, nullable=False))
    # Columns for reports and exports (the view holds the rest).
    policy_version: str | None = None
    reasons: str | None = None
    """Every reason the case fired, sorted, comma-separated."""
    risk: float | None = None
    handoffs: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    transfers: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    sla_breaches: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    handoff_at: datetime | None = None
    accepted_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    closed_at: datetime | None = Field(default=None, index=True)
    root_cause: str | None = None
    escalation_necessary: bool | None = None
    escalation_timing: str | None = None
    purged_at: datetime | None = None
    """When retention removed the case's personal data (transcript, names, texts)."""
    approver: str | None = Field(default=None, index=True)
    """Whose approval an escalation of the case to management waits for (the desk lists it)."""


class CaseEventRow(SQLModel, table=True):
    """One transition of a case, with its cause and time."""

    __tablename__ = "case_event"
    case_id: str = Field(primary_key=True)
    seq: int = Field(primary_key=True)
    at: datetime
    trigger: str
    from_state: str
    to_state: str
    level: int
    severity: str
    tier: str | None = None
    team: str | None = None
    agent: str | None = None
    cause: str = Field(sa_column=Column(Text, nullable=False))
    reason: str | None = None
    """The detection reason behind an escalation (the KPIs count escalations by it)."""


class MessageRow(SQLModel, table=True):
    """One message of a case's transcript (personal data)."""

    __tablename__ = "message"
    case_id: str = Field(primary_key=True)
    seq: int = Field(primary_key=True)
    message_id: str
    author: str
    text: str = Field(sa_column=Column(Text, nullable=False))
    amount: float | None = None
    at: datetime


class AssessmentRow(SQLModel, table=True):
    """Detection's verdict on one customer message (reasons quote evidence: personal data)."""

    __tablename__ = "assessment"
    case_id: str = Field(primary_key=True)
    seq: int = Field(primary_key=True)
    message_id: str
    at: datetime
    level: int
    severity: str
    escalate: bool
    risk: float
    sentiment: float | None = None
    reasons_json: str = Field(sa_column=Column(Text, nullable=False))
    policy_version: str
    model_version: str | None = None
    """The risk model that scored it (with the policy version: which learning was active)."""


class LearningProposalRow(SQLModel, table=True):
    """A config version one learning run proposed (``domain.learning.LearningProposal``).

    ``status``: ``proposed``, ``active`` (at most one) or ``retired``. Its product
    feedback quotes the subjects of innovation requests (personal data if a subject names
    someone); nothing else in it comes from a conversation."""

    __tablename__ = "learning_proposal"
    version: str = Field(primary_key=True)
    created_at: datetime
    based_on: str
    status: str = Field(index=True)
    proposal_json: str = Field(sa_column=Column(Text, nullable=False))
    applied_at: datetime | None = None


class HandoffRow(SQLModel, table=True):
    """The handoff package of one offer (quotes the conversation: personal data)."""

    __tablename__ = "handoff"
    case_id: str = Field(primary_key=True)
    seq: int = Field(primary_key=True)
    at: datetime
    agent: str
    tier: str
    package_json: str = Field(sa_column=Column(Text, nullable=False))


class OutboxRow(SQLModel, table=True):
    """A notification, stored once per idempotency key."""

    __tablename__ = "outbox"
    key: str = Field(primary_key=True)
    case_id: str = Field(index=True)
    event: str
    recipient: str
    recipient_kind: str
    channel: str
    language: str
    subject: str = Field(sa_column=Column(Text, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    context_json: str = Field(sa_column=Column(Text, nullable=False))
    status: str = "pending"
    created_at: datetime


class DeliveryRow(SQLModel, table=True):
    """One delivery of a notification: one recipient on one channel, sent at most once.

    ``subject`` and ``body`` are what was sent (personal data: the handoff package
    quotes the conversation); retention clears them.
    """

    __tablename__ = "delivery"
    key: str = Field(primary_key=True)
    """``<case>/<seq>/<event>/<recipient>#<channel>``: the Idempotency-Key header."""
    notification_key: str = Field(index=True)
    case_id: str = Field(index=True)
    event: str
    recipient: str
    recipient_kind: str
    channel: str
    address: str = ""
    status: str = Field(index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    subject: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    body: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None


R = TypeVar("R", CaseEventRow, MessageRow, AssessmentRow, HandoffRow)

FINAL_STATUSES = frozenset({"sent", "failed", "skipped"})
DELIVERY_CHANGES = ("status", "attempts", "last_error", "subject", "body", "updated_at", "sent_at")
"""What a newer attempt at a delivery changes."""


def _outbox_values(notification: Notification) -> dict[str, Any]:
    return notification.model_dump(mode="json", exclude={"context", "case"}) | {
        "context_json": json.dumps(notification.context, ensure_ascii=False),
        "status": "pending",
        "created_at": datetime.now(UTC),
    }


def _roll_up(session: Session, notification_key: str) -> None:
    """The notification's status: sent when all its deliveries are final and one was
    sent, failed when none was, pending otherwise."""
    statuses = set(
        session.exec(
            select(DeliveryRow.status).where(DeliveryRow.notification_key == notification_key)
        )
    )
    if not statuses or not statuses <= FINAL_STATUSES:
        status = "pending"
    elif "sent" in statuses:
        status = "sent" if statuses == {"sent"} else "partly_sent"
    else:
        status = "failed" if "failed" in statuses else "skipped"
    row = session.get(OutboxRow, notification_key)
    if row is not None:
        row.status = status
        session.add(row)


def _report_columns(v: CaseView) -> dict[str, Any]:
    follow_up, resolution = v.follow_up, v.resolution
    closing = [e.at for e in v.history if e.to_state is CaseState.CLOSED]
    return {
        "policy_version": v.policy_version,
        "reasons": ",".join(sorted({r.name for r in v.reasons})) or None,
        "risk": v.risk,
        "handoffs": v.handoffs,
        "transfers": v.transfers,
        "sla_breaches": v.sla_breaches,
        "handoff_at": v.handoff_at,
        "accepted_at": v.accepted_at,
        "resolved_at": resolution.at if resolution else None,
        "resolved_by": resolution.by if resolution else None,
        "closed_at": closing[-1] if closing else None,
        "root_cause": follow_up.root_cause if follow_up else None,
        "escalation_necessary": follow_up.escalation_necessary if follow_up else None,
        "escalation_timing": follow_up.timing.value if follow_up and follow_up.timing else None,
        "approver": v.pending_approval.supervisor if v.pending_approval else None,
    }


def _assessment_row(case_id: str, a: AssessmentRecord) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "seq": a.seq,
        "message_id": a.message_id,
        "at": a.at,
        "level": int(a.level),
        "severity": a.severity.value,
        "escalate": a.escalate,
        "risk": a.risk,
        "sentiment": a.sentiment,
        "reasons_json": json.dumps([r.model_dump(mode="json") for r in a.reasons]),
        "policy_version": a.policy_version,
        "model_version": a.model_version,
    }


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL and their folder created."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # Pre-ping finds connections a restarted server dropped; SQLite has no server.
    engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class CaseStore:
    """Idempotent writes of case records and outbox entries."""

    def __init__(self, url: str) -> None:
        """Open the store at ``url`` and bring its schema to the newest revision."""
        self.engine = make_engine(url)
        migrate(self.engine)
        self._statements: dict[tuple[str, ...], Any] = {}

    def _insert(self) -> Any:
        return postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert

    def _upsert(self, table: Any, key: str, columns: tuple[str, ...], where: Any) -> Any:
        """``table``'s insert that, where a row with its ``key`` exists and ``where``
        holds, updates ``columns`` (``key`` among them is left); it takes its values at
        execution and is built once per store, as building one costs more than running it."""
        cache_key = (table.name, *columns)
        stmt = self._statements.get(cache_key)
        if stmt is None:
            insert = self._insert()(table)
            stmt = insert.on_conflict_do_update(
                index_elements=[key],
                set_={c: insert.excluded[c] for c in columns if c != key},
                where=where(table, insert.excluded),
            )
            self._statements[cache_key] = stmt
        return stmt

    def write_case(self, batch: CaseRecordBatch) -> None:
        """Upsert the case row (only if newer) and insert new events and messages once."""
        v = batch.view
        row = {
            "case_id": v.case_id,
            "revision": batch.revision,
            "state": v.state.value,
            "level": int(v.level),
            "severity": v.severity.value,
            "path": v.path,
            "tier": v.tier.value if v.tier else None,
            "assigned_team": v.assigned_team,
            "assigned_agent": v.assigned_agent,
            "customer_id": v.customer.id,
            "customer_tier": v.customer.tier.value,
            "language": v.customer.language.value,
            "channel": v.channel.value,
            "outcome": v.outcome.value if v.outcome else None,
            "opened_at": v.opened_at,
            "updated_at": datetime.now(UTC),
            "view_json": v.model_dump_json(exclude={"recent_messages", "handoff"}),
            **_report_columns(v),
        }
        insert = self._insert()
        upsert = self._upsert(
            CaseRow.__table__,  # type: ignore[attr-defined]
            "case_id",
            tuple(row),
            lambda table, new: table.c.revision < new.revision,
        )
        events = [
            e.model_dump(mode="json") | {"case_id": v.case_id, "at": e.at, "reason": e.reason}
            for e in batch.events
        ]
        messages = [
            m.model_dump(mode="json", exclude={"sentiment"}) | {"case_id": v.case_id, "at": m.at}
            for m in batch.messages
        ]
        assessments = [_assessment_row(v.case_id, a) for a in batch.assessments]
        handoffs = [
            {
                "case_id": v.case_id,
                "seq": h.seq,
                "at": h.at,
                "agent": h.agent,
                "tier": h.package.tier.value,
                "package_json": h.package.model_dump_json(),
            }
            for h in batch.handoffs
        ]
        with Session(self.engine) as session, session.begin():
            session.execute(upsert, row)
            # One executemany per table: a batch can hold many messages after a burst.
            tables = (
                (CaseEventRow, events),
                (MessageRow, messages),
                (AssessmentRow, assessments),
                (HandoffRow, handoffs),
            )
            for model, rows in tables:
                if rows:
                    stmt = insert(model.__table__).on_conflict_do_nothing()  # type: ignore[attr-defined]
                    session.execute(stmt, rows)

    def add_notifications(self, notifications: list[Notification]) -> None:
        """Store each notification once (by key), for the record, in one transaction."""
        if not notifications:
            return
        table = OutboxRow.__table__  # type: ignore[attr-defined]
        stmt = self._insert()(table).on_conflict_do_nothing()
        with Session(self.engine) as session, session.begin():
            session.execute(stmt, [_outbox_values(n) for n in notifications])

    def deliveries_by_key(self, keys: list[str]) -> dict[str, DeliveryRow]:
        """The stored deliveries among ``keys``."""
        if not keys:
            return {}
        with Session(self.engine) as session:
            stmt = select(DeliveryRow).where(DeliveryRow.key.in_(keys))  # type: ignore[attr-defined]
            return {row.key: row for row in session.exec(stmt)}

    def record_delivery(self, row: DeliveryRow) -> None:
        """Insert or update one delivery; a final status (sent, failed, skipped) stays."""
        self.record_deliveries([row])

    def record_deliveries(self, rows: list[DeliveryRow]) -> None:
        """:meth:`record_delivery` for each of ``rows``, in one transaction."""
        if not rows:
            return
        stmt = self._upsert(
            DeliveryRow.__table__,  # type: ignore[attr-defined]
            "key",
            DELIVERY_CHANGES,
            # Plain comparisons: an IN list cannot be bound once for many rows.
            lambda table, _new: and_(*(table.c.status != s for s in sorted(FINAL_STATUSES))),
        )
        with Session(self.engine) as session, session.begin():
            session.execute(stmt, [r.model_dump() for r in rows])
            for notification_key in dict.fromkeys(r.notification_key for r in rows):
                _roll_up(session, notification_key)

    def deliveries(self, case_id: str | None = None) -> list[DeliveryRow]:
        """Stored deliveries, optionally of one case, oldest first."""
        with Session(self.engine) as session:
            stmt = select(DeliveryRow)
            if case_id is not None:
                stmt = stmt.where(DeliveryRow.case_id == case_id)
            return list(session.exec(stmt.order_by(DeliveryRow.created_at, DeliveryRow.key)))  # type: ignore[arg-type]

    # ------------------------------------------------------------- reading
    def customer_cases(self, customer_id: str, exclude: str, limit: int) -> list[CaseRow]:
        """A customer's most recent cases (newest first), without ``exclude``."""
        with Session(self.engine) as session:
            stmt = (
                select(CaseRow)
                .where(CaseRow.customer_id == customer_id, CaseRow.case_id != exclude)
                .order_by(CaseRow.opened_at.desc())  # type: ignore[attr-defined]
                .limit(limit)
            )
            return list(session.exec(stmt))

    def cases_opened(self, since: datetime, until: datetime) -> list[CaseRow]:
        """Every case opened in [since, until), oldest first."""
        with Session(self.engine) as session:
            stmt = (
                select(CaseRow)
                .where(CaseRow.opened_at >= since, CaseRow.opened_at < until)  # type: ignore[arg-type]
                .order_by(CaseRow.opened_at, CaseRow.case_id)  # type: ignore[arg-type]
            )
            return list(session.exec(stmt))

    def count_by_state(self) -> dict[str, int]:
        """How many cases are on record in each state (one query, no rows loaded)."""
        with Session(self.engine) as session:
            stmt = select(CaseRow.state, func.count()).group_by(CaseRow.state)
            return {state: count for state, count in session.exec(stmt)}

    def case(self, case_id: str) -> CaseRow | None:
        """The stored record of ``case_id``."""
        with Session(self.engine) as session:
            return session.get(CaseRow, case_id)

    def events(self, case_id: str) -> list[CaseEventRow]:
        """The stored history of ``case_id``, in order."""
        return self._in_order(CaseEventRow, case_id)

    def messages(self, case_id: str) -> list[MessageRow]:
        """The stored transcript of ``case_id``, in order."""
        return self._in_order(MessageRow, case_id)

    def assessments(self, case_id: str) -> list[AssessmentRow]:
        """Detection's verdicts on the customer's messages, in order."""
        return self._in_order(AssessmentRow, case_id)

    def handoffs(self, case_id: str) -> list[HandoffRow]:
        """The handoff packages of the case's offers, in order."""
        return self._in_order(HandoffRow, case_id)

    def _in_order(self, model: type[R], case_id: str) -> list[R]:
        with Session(self.engine) as session:
            stmt = select(model).where(model.case_id == case_id)  # type: ignore[attr-defined]
            return list(session.exec(stmt.order_by(model.seq)))  # type: ignore[attr-defined]

    def outbox(self, case_id: str | None = None) -> list[OutboxRow]:
        """Stored notifications, optionally of one case."""
        with Session(self.engine) as session:
            stmt = select(OutboxRow)
            if case_id is not None:
                stmt = stmt.where(OutboxRow.case_id == case_id)
            return list(session.exec(stmt.order_by(OutboxRow.created_at, OutboxRow.key)))  # type: ignore[arg-type]

    def repeated_cases(self, since: datetime) -> set[str]:
        """Cases some case opened since ``since`` repeats (its customer came back)."""
        with Session(self.engine) as session:
            stmt = select(CaseRow.view_json).where(CaseRow.opened_at >= since)  # type: ignore[arg-type]
            views = (CaseView.model_validate_json(text) for text in session.exec(stmt))
            return {v.repeat_of for v in views if v.repeat_of}

    # ------------------------------------------------------------ learning
    def add_proposal(self, row: LearningProposalRow) -> bool:
        """Store a proposal once (by version); False if that version exists."""
        with Session(self.engine) as session, session.begin():
            if session.get(LearningProposalRow, row.version) is not None:
                return False
            session.add(row)
            return True

    def proposals(self) -> list[LearningProposalRow]:
        """Every proposal, newest first."""
        with Session(self.engine) as session:
            stmt = select(LearningProposalRow).order_by(
                LearningProposalRow.created_at.desc()  # type: ignore[attr-defined]
            )
            return list(session.exec(stmt))

    def proposal(self, version: str) -> LearningProposalRow | None:
        """The proposal ``version``."""
        with Session(self.engine) as session:
            return session.get(LearningProposalRow, version)

    def active_proposal(self) -> LearningProposalRow | None:
        """The applied proposal the workers detect with (None: the config file alone)."""
        with Session(self.engine) as session:
            stmt = select(LearningProposalRow).where(LearningProposalRow.status == "active")
            return session.exec(stmt).first()

    def activate_proposal(self, version: str, now: datetime) -> None:
        """Make ``version`` the active one and retire the one before (one transaction)."""
        with Session(self.engine) as session, session.begin():
            row = session.get(LearningProposalRow, version)
            if row is None:
                raise LookupError(f"no learning proposal {version!r}")
            session.execute(
                update(LearningProposalRow)
                .where(LearningProposalRow.status == "active")  # type: ignore[arg-type]
                .values(status="retired")
            )
            row.status, row.applied_at = "active", now
            session.add(row)

    # ----------------------------------------------------------- retention
    def purgeable(self, closed_before: datetime) -> list[str]:
        """Closed cases, closed before ``closed_before``, whose personal data is still here."""
        with Session(self.engine) as session:
            stmt = select(CaseRow.case_id).where(
                CaseRow.state == CaseState.CLOSED.value,
                CaseRow.closed_at < closed_before,  # type: ignore[operator]
                CaseRow.purged_at.is_(None),  # type: ignore[union-attr]
            )
            return list(session.exec(stmt.order_by(CaseRow.closed_at)))  # type: ignore[arg-type]

    def purge_closed_before(
        self, cutoff: datetime, now: datetime, each: Callable[[str], object] = lambda _: None
    ) -> list[str]:
        """Purge every case closed before ``cutoff`` (see :meth:`purge_personal_data`),
        calling ``each`` after each case."""
        due = self.purgeable(cutoff)
        for case_id in due:
            self.purge_personal_data(case_id, now)
            each(case_id)
        return due

    def purge_personal_data(self, case_id: str, now: datetime) -> None:
        """Remove the case's transcript and every text that names or quotes a person;
        keep what the metrics count (see :mod:`domain.retention`). One transaction."""
        with Session(self.engine) as session, session.begin():
            case = session.get(CaseRow, case_id)
            if case is None or case.purged_at is not None:
                return
            view = anonymised(CaseView.model_validate_json(case.view_json))
            case.view_json = view.model_dump_json(exclude={"recent_messages", "handoff"})
            case.purged_at = now
            session.add(case)
            session.execute(delete(MessageRow).where(MessageRow.case_id == case_id))  # type: ignore[arg-type]
            session.execute(
                update(CaseEventRow).where(CaseEventRow.case_id == case_id).values(cause="")  # type: ignore[arg-type]
            )
            session.execute(
                update(HandoffRow).where(HandoffRow.case_id == case_id).values(package_json="{}")  # type: ignore[arg-type]
            )
            for row in session.exec(select(AssessmentRow).where(AssessmentRow.case_id == case_id)):
                reasons = [ReasonHit.model_validate(r) for r in json.loads(row.reasons_json)]
                row.reasons_json = json.dumps(
                    [r.model_dump(mode="json") for r in without_evidence(reasons)]
                )
                session.add(row)
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.case_id == case_id)  # type: ignore[arg-type]
                .values(subject="", body="", context_json="{}")
            )
            session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.case_id == case_id)  # type: ignore[arg-type]
                .values(subject="", body="", address="")
            )
            session.execute(
                update(HandoffRatingRow)
                .where(HandoffRatingRow.case_id == case_id)  # type: ignore[arg-type]
                .values(missing="")
            )

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()
