"""The desk's sign-in accounts: one per person of the directory, password hashed.

Passwords are hashed with Argon2id (``argon2-cffi``, the OWASP recommendation); a hash
made with weaker parameters than the library's current ones is replaced at the next
sign-in. The tables hold no customer data.
"""

from __future__ import annotations

from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel

from baton.store.schema import migrate

MIN_PASSWORD = 12
"""Characters a desk password needs at least (NIST SP 800-63B asks for 8 or more)."""


class AccountError(ValueError):
    """An account cannot be set as asked; the message says why."""


class DeskAccountRow(SQLModel, table=True):
    """A person who may sign in to the desk."""

    __tablename__ = "desk_account"
    person: str = Field(primary_key=True)
    password_hash: str
    lead: bool = False
    language: str | None = None
    """The desk's language for them (None: the browser's)."""
    timezone: str | None = None
    """Where deadlines are shown in (None: the team's calendar's)."""
    updated_at: datetime


class DeskLinkUseRow(SQLModel, table=True):
    """A one-click link that has been used (its nonce; links work once)."""

    __tablename__ = "desk_link_use"
    nonce: str = Field(primary_key=True)
    case_id: str
    used_at: datetime


class AccountStore:
    """Accounts in the documentation store."""

    def __init__(self, engine: Engine) -> None:
        """Use the store at ``engine`` (migrated to the newest schema)."""
        self.engine = engine
        migrate(engine)
        self._hasher = PasswordHasher()

    def set_password(self, person: str, password: str, lead: bool | None = None) -> None:
        """Create or update ``person``'s account; :class:`AccountError` if the password
        is too short."""
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"a desk password needs at least {MIN_PASSWORD} characters")
        with Session(self.engine) as session:
            row = session.get(DeskAccountRow, person)
            if row is None:
                row = DeskAccountRow(person=person, password_hash="", updated_at=_now())
            row.password_hash = self._hasher.hash(password)
            if lead is not None:
                row.lead = lead
            row.updated_at = _now()
            session.add(row)
            session.commit()

    def link_used(self, nonce: str) -> bool:
        """Whether the link with ``nonce`` has been used."""
        with Session(self.engine) as session:
            return session.get(DeskLinkUseRow, nonce) is not None

    def use_link(self, nonce: str, case_id: str) -> bool:
        """Record the link as used; False if it had been (concurrent clicks: one wins)."""
        with Session(self.engine) as session:
            session.add(DeskLinkUseRow(nonce=nonce, case_id=case_id, used_at=_now()))
            try:
                session.commit()
            except IntegrityError:
                return False
        return True

    def account(self, person: str) -> DeskAccountRow | None:
        """``person``'s account, if they have one."""
        with Session(self.engine) as session:
            return session.get(DeskAccountRow, person)

    def verify(self, person: str, password: str) -> DeskAccountRow | None:
        """The account if ``password`` is ``person``'s, else None. Takes as long for an
        unknown person as for a wrong password (no probing for names)."""
        row = self.account(person)
        try:
            self._hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if self._hasher.check_needs_rehash(row.password_hash):
            self.set_password(person, password)
        return row


def _now() -> datetime:
    return datetime.now(UTC)


_DUMMY_HASH = PasswordHasher().hash("no account has this password")
