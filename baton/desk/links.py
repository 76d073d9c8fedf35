"""Signed, expiring one-click links for the people a notification reaches.

An offer's e-mail carries a link to accept and one to decline; a request to approve an
escalation to management, one to approve and one to deny (the page asks why). Each is
signed with the desk's secret (``itsdangerous``), bound to the case, the person it was
sent to and the action, valid for :data:`LINK_HOURS`, and usable once: the desk records
each link's nonce when it is used. Opening a link shows what it will do; only the
button on that page acts, so a mail scanner that fetches links changes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from domain.models import Notification

LINK_HOURS = 24
"""How long an offer's links work (the offer itself usually expires sooner)."""
LINKED = {
    ("case_offered", "agent"): ("accept", "decline"),
    ("approval_requested", "supervisor"): ("approve", "deny"),
}
"""(event, recipient kind) -> the actions its links offer."""
ACTIONS = frozenset(action for actions in LINKED.values() for action in actions)
SALT = "baton-desk-link"


class LinkError(Exception):
    """A link cannot be used; ``reason`` is ``invalid``, ``expired`` or ``used``."""

    def __init__(self, reason: str) -> None:
        """A link refused for ``reason``."""
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LinkClaim:
    """What a valid link asks for."""

    case_id: str
    person: str
    """Whom the link was sent to: only they may use it."""
    action: str
    nonce: str


class OfferLinks:
    """Makes and reads the desk's one-click links."""

    def __init__(self, secret: str, base_url: str, max_age_hours: float = LINK_HOURS) -> None:
        """Links to the desk at ``base_url``, signed with ``secret``."""
        self._serializer = URLSafeTimedSerializer(secret, salt=SALT)
        self.base_url = base_url.rstrip("/")
        self.max_age = int(max_age_hours * 3600)

    def for_notification(self, notification: Notification) -> dict[str, str] | None:
        """The links a notification carries (``open`` and its :data:`LINKED` actions);
        None for a notification without any."""
        actions = LINKED.get((notification.event, notification.recipient_kind))
        if actions is None:
            return None
        links = {"open": f"{self.base_url}/cases/{notification.case_id}"}
        for action in actions:
            nonce = hashlib.sha256(f"{notification.key}/{action}".encode()).hexdigest()[:24]
            claim = [notification.case_id, notification.recipient, action, nonce]
            links[action] = f"{self.base_url}/l/{self._serializer.dumps(claim)}"
        return links

    def read(self, token: str) -> LinkClaim:
        """The claim of a link made here and not expired; :class:`LinkError` if not."""
        try:
            case_id, person, action, nonce = self._serializer.loads(token, max_age=self.max_age)
        except SignatureExpired:
            raise LinkError("expired") from None
        except (BadSignature, ValueError, TypeError):
            raise LinkError("invalid") from None
        if action not in ACTIONS:
            raise LinkError("invalid")
        return LinkClaim(str(case_id), str(person), str(action), str(nonce))
