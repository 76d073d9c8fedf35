"""The directory in the documentation store, and load accounting that never leaks.

Teams and agents are seeded from ``config/directory.toml`` and edited at run time
(``baton agents``). Every offer of a case to an agent is an ``assignment`` row; an
agent's load is a counter moved in the same transaction as the row's status, with a
conditional update (``active_cases < max_cases``), so concurrent routing never exceeds
capacity on SQLite or PostgreSQL, and a retried activity never counts twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, Text, and_, case, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, select

from baton.settings import read_toml
from baton.store.schema import migrate
from domain.directory import Agent, Directory, Performance, Presence, Team
from domain.policy import RoutingStrategy
from domain.routing import AgentLoad, RoutingDecision, RoutingRequest, route

ACTIVE = ("offered", "accepted")
RESERVE_ATTEMPTS = 5
"""Routing retries when a concurrent reservation took the chosen agent's last slot."""


class TeamRow(SQLModel, table=True):
    """A team of the directory (the whole team as JSON, path and tier indexed)."""

    __tablename__ = "team"
    id: str = Field(primary_key=True)
    path: str = Field(index=True)
    tier: str
    team_json: str = Field(sa_column=Column(Text, nullable=False))


class AgentRow(SQLModel, table=True):
    """An agent, with the load counter routing reserves against."""

    __tablename__ = "agent"
    id: str = Field(primary_key=True)
    team: str = Field(index=True)
    presence: str
    max_cases: int
    active_cases: int = 0
    idle_since: datetime | None = None
    agent_json: str = Field(sa_column=Column(Text, nullable=False))


class AssignmentRow(SQLModel, table=True):
    """One offer of a case to an agent, and what became of it."""

    __tablename__ = "assignment"
    case_id: str = Field(primary_key=True)
    offer: int = Field(primary_key=True)
    """The case's offer number: a retried reservation finds its row and counts nothing."""
    agent_id: str = Field(index=True)
    status: str
    """offered, accepted, or released (declined, timed out, reassigned, resolved, closed)."""
    offered_at: datetime
    released_at: datetime | None = None


class QueueRow(SQLModel, table=True):
    """A case waiting because nobody could take it, for its place in the line."""

    __tablename__ = "queue"
    case_id: str = Field(primary_key=True)
    path: str = Field(index=True)
    tier: str
    since: datetime


class ResolutionRow(SQLModel, table=True):
    """How long an agent took to resolve one case: the source of their performance."""

    __tablename__ = "resolution_record"
    case_id: str = Field(primary_key=True)
    agent_id: str = Field(index=True)
    path: str
    minutes: float
    reopened: bool = False
    """A later escalation of the same customer and path came within the reopen window."""


class DirectoryError(ValueError):
    """A directory change that cannot be made; the message says why."""


def read_directory(path: Path | str) -> Directory:
    """Read and validate a directory file; :class:`ConfigError` names the bad key."""
    return read_toml(path, Directory, "directory")


class DirectoryStore:
    """Teams, agents and assignments in the documentation store."""

    def __init__(self, engine: Engine) -> None:
        """Use ``engine`` (the case store's), its schema brought to the newest revision."""
        self.engine = engine
        migrate(engine)

    def _insert(self) -> Any:
        return postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert

    # ------------------------------------------------------------ directory
    def seed(self, directory: Directory) -> bool:
        """Load ``directory`` if the store has none yet (run-time edits are kept)."""
        with Session(self.engine) as session:
            if session.exec(select(TeamRow).limit(1)).first() is not None:
                return False
        self.replace(directory)
        return True

    def replace(self, directory: Directory) -> None:
        """Replace teams and agents by ``directory``; loads of kept agents stay."""
        with Session(self.engine) as session, session.begin():
            held = self._holders(session)
            missing = sorted(set(held) - {a.id for a in directory.agents})
            if missing:
                raise DirectoryError(
                    f"agents {', '.join(missing)} hold active cases; "
                    "keep them in the directory until those cases are reassigned"
                )
            session.execute(TeamRow.__table__.delete())  # type: ignore[attr-defined]
            for team in directory.teams:
                session.add(_team_row(team))
            kept = {r.id: (r.active_cases, r.idle_since) for r in session.exec(select(AgentRow))}
            session.execute(AgentRow.__table__.delete())  # type: ignore[attr-defined]
            session.expunge_all()
            for agent in directory.agents:
                session.add(_agent_row(agent, *kept.get(agent.id, (0, None))))

    def directory(self) -> Directory:
        """The directory as stored now."""
        with Session(self.engine) as session:
            return _snapshot(session)[0]

    def team_contacts(self) -> dict[str, str]:
        """Each team's contact for notifications, by team id."""
        with Session(self.engine) as session:
            rows = session.exec(select(TeamRow.team_json))
            return {t.id: t.contact for t in (Team.model_validate_json(r) for r in rows)}

    def add_agent(self, agent: Agent) -> None:
        """Add ``agent``; its team must exist and its id be new."""
        with Session(self.engine) as session, session.begin():
            if session.get(TeamRow, agent.team) is None:
                raise DirectoryError(f"team {agent.team!r} does not exist")
            if session.get(AgentRow, agent.id) is not None:
                raise DirectoryError(f"agent {agent.id!r} already exists")
            session.add(_agent_row(agent, 0, None))

    def remove_agent(self, agent_id: str) -> None:
        """Remove an agent who holds no active case."""
        with Session(self.engine) as session, session.begin():
            row = session.get(AgentRow, agent_id)
            if row is None:
                raise DirectoryError(f"agent {agent_id!r} does not exist")
            cases = self._holders(session).get(agent_id, [])
            if cases:
                raise DirectoryError(
                    f"agent {agent_id!r} holds active cases {', '.join(cases)}; reassign them first"
                )
            session.delete(row)

    def set_presence(self, agent_id: str, presence: Presence) -> Agent:
        """Set an agent's presence (available, busy, away, offline)."""
        return self._edit(agent_id, lambda a: a.model_copy(update={"presence": presence}))

    def _edit(self, agent_id: str, change: Callable[[Agent], Agent]) -> Agent:
        with Session(self.engine) as session, session.begin():
            row = session.get(AgentRow, agent_id)
            if row is None:
                raise DirectoryError(f"agent {agent_id!r} does not exist")
            agent = change(_agent(row))
            row.presence, row.max_cases = agent.presence.value, agent.max_cases
            row.agent_json = agent.model_dump_json()
            return agent

    @staticmethod
    def _holders(session: Session) -> dict[str, list[str]]:
        stmt = select(AssignmentRow).where(AssignmentRow.status.in_(ACTIVE))  # type: ignore[attr-defined]
        held: dict[str, list[str]] = {}
        for row in session.exec(stmt):
            held.setdefault(row.agent_id, []).append(row.case_id)
        return held

    # ------------------------------------------------------------ load accounting
    def loads(self) -> dict[str, AgentLoad]:
        """Every agent's active cases and idle time."""
        with Session(self.engine) as session:
            return _loads(session.exec(select(AgentRow)))

    def reserve(
        self, request: RoutingRequest, offer: int, strategy: RoutingStrategy, vip_first: bool
    ) -> RoutingDecision:
        """Route ``request`` and hold one slot of the chosen agent for offer ``offer``.

        Idempotent per (case, offer): a retry returns the agent already reserved.
        """
        for _ in range(RESERVE_ATTEMPTS):
            with Session(self.engine) as session, session.begin():
                existing = session.get(AssignmentRow, (request.case_id, offer))
                if existing is not None:
                    return RoutingDecision(
                        agent_id=existing.agent_id,
                        team_id=_team_of(session, existing.agent_id),
                        candidates=[existing.agent_id],
                        passed_over={},
                    )
                directory, loads = _snapshot(session)
                decision = route(directory, loads, request, strategy, vip_first)
                if decision.agent_id is None:
                    position = self._enqueue(session, request)
                    return decision.model_copy(update={"queue_position": position})
                taken = session.execute(
                    update(AgentRow)
                    .where(AgentRow.id == decision.agent_id)  # type: ignore[arg-type]
                    .where(AgentRow.active_cases < AgentRow.max_cases)  # type: ignore[arg-type]
                    .values(active_cases=AgentRow.active_cases + 1)
                )
                if taken.rowcount != 1:
                    continue  # someone took the last slot meanwhile: route again
                queued = session.get(QueueRow, request.case_id)
                if queued is not None:
                    session.delete(queued)
                session.add(
                    AssignmentRow(
                        case_id=request.case_id,
                        offer=offer,
                        agent_id=decision.agent_id,
                        status="offered",
                        offered_at=datetime.now(UTC),
                    )
                )
                return decision
        raise DirectoryError(f"could not reserve an agent for {request.case_id}: contention")

    @staticmethod
    def _enqueue(session: Session, request: RoutingRequest) -> int:
        """Put the case in line for its path and tier (once); its 1-based position (a
        snapshot: cases queued in the same instant by other workers may not be counted)."""
        row = session.get(QueueRow, request.case_id)
        if row is None:
            row = QueueRow(
                case_id=request.case_id,
                path=request.path,
                tier=request.tier.value,
                since=request.at,
            )
            session.add(row)
            session.flush()
        ahead = session.exec(
            select(func.count())
            .select_from(QueueRow)
            .where(
                QueueRow.path == row.path,
                QueueRow.tier == row.tier,
                # Earlier first; the same instant breaks by case id.
                or_(
                    QueueRow.since < row.since,  # type: ignore[arg-type,operator]
                    and_(QueueRow.since == row.since, QueueRow.case_id < row.case_id),  # type: ignore[arg-type,operator]
                ),
            )
        ).one()
        return int(ahead) + 1

    def record_resolution(self, case_id: str, agent_id: str, path: str, minutes: float) -> None:
        """Count a resolved case in the agent's record on ``path`` (once per case)."""
        with Session(self.engine) as session, session.begin():
            if session.get(ResolutionRow, case_id) is not None:
                return  # a retried activity
            session.add(
                ResolutionRow(case_id=case_id, agent_id=agent_id, path=path, minutes=minutes)
            )
            session.flush()
            row = session.get(AgentRow, agent_id)
            if row is None:
                return  # removed meanwhile: the record stays for the reports
            self._refresh_performance(session, row, path)

    def record_reopen(self, case_id: str, agent_id: str, path: str) -> None:
        """The resolution of ``case_id`` did not hold: it counts in the reopen rate (once)."""
        with Session(self.engine) as session, session.begin():
            record = session.get(ResolutionRow, case_id)
            if record is None or record.reopened:
                return
            record.reopened = True
            session.flush()
            row = session.get(AgentRow, agent_id)
            if row is not None:
                self._refresh_performance(session, row, path)

    @staticmethod
    def _refresh_performance(session: Session, row: AgentRow, path: str) -> None:
        """Recompute an agent's record on ``path`` from their resolutions."""
        stmt = select(
            func.count(),
            func.avg(ResolutionRow.minutes),
            func.sum(case((ResolutionRow.reopened, 1), else_=0)),  # type: ignore[arg-type]
        ).where(ResolutionRow.agent_id == row.id, ResolutionRow.path == path)
        count, mean, reopened = session.exec(stmt).one()
        agent = _agent(row)
        old = agent.performance.get(path, Performance())
        record = old.model_copy(
            update={
                "cases": int(count),
                "mean_resolution_minutes": round(float(mean), 1),
                "reopen_rate": round(int(reopened or 0) / int(count), 3),
            }
        )
        agent = agent.model_copy(update={"performance": {**agent.performance, path: record}})
        row.agent_json = agent.model_dump_json()

    def queue_length(self, path: str, tier: str) -> int:
        """Cases waiting for an agent of ``path`` at ``tier``."""
        with Session(self.engine) as session:
            stmt = select(func.count()).select_from(QueueRow)
            stmt = stmt.where(QueueRow.path == path, QueueRow.tier == tier)
            return int(session.exec(stmt).one())

    def claim(self, case_id: str, offer: int, agent_id: str) -> bool:
        """Hold one slot of ``agent_id`` for the case's ``offer`` if they are below capacity
        (a broadcast accept); idempotent per (case, offer)."""
        with Session(self.engine) as session, session.begin():
            existing = session.get(AssignmentRow, (case_id, offer))
            if existing is not None:
                return existing.agent_id == agent_id
            taken = session.execute(
                update(AgentRow)
                .where(AgentRow.id == agent_id)  # type: ignore[arg-type]
                .where(AgentRow.active_cases < AgentRow.max_cases)  # type: ignore[arg-type]
                .values(active_cases=AgentRow.active_cases + 1)
            )
            if taken.rowcount != 1:
                return False
            session.add(
                AssignmentRow(
                    case_id=case_id,
                    offer=offer,
                    agent_id=agent_id,
                    status="offered",
                    offered_at=datetime.now(UTC),
                )
            )
            return True

    def accept(self, case_id: str, offer: int) -> None:
        """The offered agent accepted: the slot stays held until the case lets go."""
        with Session(self.engine) as session, session.begin():
            row = session.get(AssignmentRow, (case_id, offer))
            if row is not None and row.status == "offered":
                row.status = "accepted"

    def release(self, case_id: str, offer: int | None = None) -> int:
        """Free the slots a case holds (one offer, or all); idempotent. Returns how many."""
        now = datetime.now(UTC)
        with Session(self.engine) as session, session.begin():
            stmt = select(AssignmentRow).where(
                AssignmentRow.case_id == case_id,
                AssignmentRow.status.in_(ACTIVE),  # type: ignore[attr-defined]
            )
            if offer is not None:
                stmt = stmt.where(AssignmentRow.offer == offer)
            rows = list(session.exec(stmt))
            if offer is None:  # the case ends or moves on: out of any line too
                queued = session.get(QueueRow, case_id)
                if queued is not None:
                    session.delete(queued)
            for row in rows:
                row.status, row.released_at = "released", now
                session.execute(
                    update(AgentRow)
                    .where(AgentRow.id == row.agent_id)  # type: ignore[arg-type]
                    .values(
                        active_cases=case(
                            (AgentRow.active_cases > 0, AgentRow.active_cases - 1),  # type: ignore[arg-type,operator]
                            else_=0,
                        ),
                        idle_since=now,
                    )
                )
            return len(rows)

    def active_assignments(self, agent_id: str | None = None) -> list[AssignmentRow]:
        """Offers and accepted cases not yet released."""
        with Session(self.engine) as session:
            stmt = select(AssignmentRow).where(AssignmentRow.status.in_(ACTIVE))  # type: ignore[attr-defined]
            if agent_id is not None:
                stmt = stmt.where(AssignmentRow.agent_id == agent_id)
            return list(session.exec(stmt))


def _team_of(session: Session, agent_id: str) -> str | None:
    row = session.get(AgentRow, agent_id)
    return row.team if row else None


def _team_row(team: Team) -> TeamRow:
    return TeamRow(
        id=team.id, path=team.path, tier=team.tier.value, team_json=team.model_dump_json()
    )


def _agent_row(agent: Agent, active: int, idle_since: datetime | None) -> AgentRow:
    return AgentRow(
        id=agent.id,
        team=agent.team,
        presence=agent.presence.value,
        max_cases=agent.max_cases,
        active_cases=active,
        idle_since=idle_since,
        agent_json=agent.model_dump_json(),
    )


def _snapshot(session: Session) -> tuple[Directory, dict[str, AgentLoad]]:
    """The directory and every agent's load, read together in ``session``."""
    teams = [Team.model_validate_json(r.team_json) for r in session.exec(select(TeamRow))]
    if not teams:
        raise DirectoryError(
            "the directory has no teams: the worker and `baton agents` load"
            " config/directory.toml into a store that has none"
        )
    rows = list(session.exec(select(AgentRow).order_by(AgentRow.id)))  # type: ignore[arg-type]
    directory = Directory(teams=sorted(teams, key=lambda t: t.id), agents=[_agent(r) for r in rows])
    return directory, _loads(rows)


def _loads(rows: Iterable[AgentRow]) -> dict[str, AgentLoad]:
    return {r.id: AgentLoad(active_cases=r.active_cases, idle_since=r.idle_since) for r in rows}


def _agent(row: AgentRow) -> Agent:
    return Agent.model_validate_json(row.agent_json)
