"""The desk's web application (Starlette, server-rendered Jinja2 pages).

It acts on cases through :class:`~baton.temporal.client.BatonClient`, the same wire
contract as every backend, and reads lists from the documentation store. Who may do
what is decided in :mod:`domain.desk` alone; a case someone may not see answers 404,
as one that does not exist does. Customer text is shown to the people the rules allow
and never logged.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import structlog
from jinja2 import Environment, FileSystemLoader, select_autoescape
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import ValidationError
from slack_sdk.signature import SignatureVerifier
from sqlmodel import Session, col, or_, select
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from baton.desk.i18n import catalog, negotiate
from baton.desk.links import LinkClaim, LinkError, OfferLinks
from baton.reports import learning
from baton.reports.kpis import (
    KPI_CONFIG,
    period_report,
    report_html,
)
from baton.reports.learning import BrokenProposal
from baton.store.accounts import AccountStore, DeskAccountRow
from baton.store.cases import CaseRow, CaseStore
from baton.store.directory import DirectoryStore
from baton.store.ratings import RatingStore
from baton.temporal.client import BatonClient, CaseNotFound, CaseRequestRejected
from domain.desk import (
    DeskAction,
    DeskUser,
    desk_user,
    may,
    may_lead,
    may_set_presence,
    open_consults,
)
from domain.detector import Detector
from domain.directory import Agent, Presence
from domain.handoff_rating import HandoffRating
from domain.kpis import Dimension, KpiTargets
from domain.models import CaseView, EscalationLevel, FollowUpRequest
from domain.policy import EscalationPolicy
from domain.states import CaseState

log = structlog.get_logger("baton.desk")

HERE = Path(__file__).resolve().parent
SIGN_IN_LIMITS = (parse("5/minute"), parse("30/hour"))
"""Sign-in attempts per address and person: enough for typos, too few for guessing."""
CASE_ACTIONS = {
    "accept": DeskAction.ACCEPT,
    "decline": DeskAction.DECLINE,
    "reply": DeskAction.REPLY,
    "resolve": DeskAction.RESOLVE,
    "follow-up": DeskAction.FOLLOW_UP,
    "rating": DeskAction.RATE,
    "escalate": DeskAction.ESCALATE,
    "consult": DeskAction.CONSULT,
    "approval": DeskAction.APPROVE,
    "reassign": DeskAction.REASSIGN,
}
"""The forms on a case (``POST /cases/<id>/<form>``) and what each asks for."""
LINK_ACTIONS = {
    "accept": DeskAction.ACCEPT,
    "decline": DeskAction.DECLINE,
    "approve": DeskAction.APPROVE,
    "deny": DeskAction.APPROVE,
}
"""A one-click link's action and what it asks the rules for."""
WORKED = (CaseState.HUMAN_HANDLING, CaseState.FOLLOW_UP)
"""The states of a case an agent is working on."""
POLL_SECONDS = 5.0
"""How often an open page asks whether it changed (one store query, never Temporal)."""
SESSION_SECONDS = 8 * 3600
"""A sign-in lasts a working day."""
REPORT_DAYS = 30
"""The period of the lead's KPI report."""
REPORT_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
)
"""The report is one self-contained page: inline styles and charts, no script."""
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


@dataclass
class Desk:
    """What the desk works with."""

    client: BatonClient
    store: CaseStore
    accounts: AccountStore
    directory: DirectoryStore
    root_causes: list[str] = field(default_factory=list)
    """The follow-up's root-cause taxonomy (the policy's ``follow_up.root_causes``)."""
    detector: Detector | None = None
    """The detector proposals are learnt against (a lead applies them); None: no apply."""
    links: OfferLinks | None = None
    """Reads the one-click links of notifications (None: they are refused)."""
    slack_signing_secret: str | None = None
    """Verifies the requests of Slack's interactivity (None: Slack buttons are refused)."""
    policy: EscalationPolicy | None = None
    """Whom consults go to (None: no consult is shown)."""
    proxy: TrustedProxy | None = None
    """An authenticating proxy whose identity header signs people in (None: passwords)."""


@dataclass(frozen=True)
class TrustedProxy:
    """Single sign-on: the proxy in front of the desk names the signed-in person."""

    header: str
    """The header carrying the person's id, e.g. ``X-Forwarded-User``."""
    trusted: frozenset[str]
    """The proxy's addresses: the header from anywhere else is ignored."""


def create_app(
    desk: Desk, secret: str, https_only: bool = False, poll_seconds: float = POLL_SECONDS
) -> Starlette:
    """The desk's ASGI application; ``secret`` signs its session cookies."""
    pages = Pages(desk, poll_seconds)
    routes = [
        Route("/", pages.inbox),
        Route("/login", pages.login_form, methods=["GET"]),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/cases/{case_id}", pages.case),
        Route("/cases/{case_id}/{action}", pages.act, methods=["POST"]),
        Route("/team", pages.team),
        Route("/changes", pages.changes),
        Route("/slack/actions", pages.slack_action, methods=["POST"]),
        Route("/l/{token}", pages.link, methods=["GET"]),
        Route("/l/{token}", pages.use_link, methods=["POST"]),
        Route("/report", pages.report),
        Route("/proposals", pages.proposals),
        Route("/proposals/{version}/apply", pages.apply_proposal, methods=["POST"]),
        Route("/team/presence", pages.presence, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [
        Middleware(_SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=secret,
            session_cookie="baton_desk",
            max_age=SESSION_SECONDS,
            same_site="strict",
            https_only=https_only,
        ),
    ]
    return Starlette(routes=routes, middleware=middleware)


class _SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            if name not in response.headers:  # a page may set a policy of its own
                response.headers[name] = value
        return response


Handler = Callable[["Pages", Request, DeskUser], Awaitable[Response]]


def _signed_in(handler: Handler) -> Callable[[Pages, Request], Awaitable[Response]]:
    """The page for a signed-in person; anyone else is sent to sign in."""

    @functools.wraps(handler)
    async def page(self: Pages, request: Request) -> Response:
        user = self._user(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        return await handler(self, request, user)

    return page


class _Refused(Exception):
    """A link or button that cannot do what it says: the text's key, the status, why."""

    def __init__(self, key: str, status: int, detail: str = "") -> None:
        super().__init__(key)
        self.key, self.status, self.detail = key, status, detail

    def text(self, texts: dict[str, str]) -> str:
        """In words, in the language of ``texts``."""
        return texts[self.key] + (f": {self.detail}" if self.detail else "")


class Pages:
    """The desk's pages and form actions."""

    def __init__(self, desk: Desk, poll_seconds: float = POLL_SECONDS) -> None:
        """Serve ``desk``; open pages look for changes every ``poll_seconds``."""
        self.desk = desk
        self.poll_ms = int(poll_seconds * 1000)
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape()
        )
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.ratings = RatingStore(desk.store.engine)

    # ------------------------------------------------------------------ sign-in
    async def login_form(self, request: Request) -> Response:
        """The sign-in form."""
        return self._render(request, "login.html", typed="")

    async def login(self, request: Request) -> Response:
        """Check the password; a session for the person on success."""
        form = await request.form()
        if not _csrf_ok(request, form.get("csrf")):
            return self._error(request, "forbidden", 403)
        person = str(form.get("person", ""))[:100].strip()
        address = request.client.host if request.client else "?"
        key = f"{address}/{person}"
        if not all(self.limiter.hit(limit, "login", key) for limit in SIGN_IN_LIMITS):
            log.warning("desk sign-in rate limited", address=address)
            return self._render(
                request, "login.html", 429, error_key="too_many_attempts", typed=person
            )
        account = self.desk.accounts.verify(person, str(form.get("password", "")))
        if account is None:
            log.info("desk sign-in refused", address=address)
            return self._render(
                request, "login.html", 401, error_key="wrong_password", typed=person
            )
        request.session.clear()  # a new session: no fixation
        request.session.update(person=account.person, csrf=secrets.token_urlsafe(32))
        log.info("desk sign-in", person=account.person)
        return RedirectResponse("/", status_code=303)

    async def logout(self, request: Request) -> Response:
        """End the session."""
        form = await request.form()
        if not _csrf_ok(request, form.get("csrf")):
            return self._error(request, "forbidden", 403)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # ------------------------------------------------------------------ pages
    @_signed_in
    async def inbox(self, request: Request, user: DeskUser) -> Response:
        """The offers waiting for the person and their open cases."""
        cases = [v for _, v in self._visible_rows(user, self._rows_near(user.id))]
        offers = [c for c in cases if may(user, DeskAction.ACCEPT, c)]
        consults = [c for c in cases if may(user, DeskAction.CONSULT, c, self._consulting(c))]
        mine = [c for c in cases if c.assigned_agent == user.id and c.state in WORKED]
        approvals = [c for c in cases if may(user, DeskAction.APPROVE, c)]
        return self._render(
            request,
            "inbox.html",
            offers=offers,
            open_cases=mine,
            consults=consults,
            approvals=approvals,
        )

    @_signed_in
    async def case(self, request: Request, user: DeskUser) -> Response:
        """One case with its handoff package and transcript."""
        view = await self._visible(user, request.path_params["case_id"])
        if view is None:
            return self._error(request, "not_found", 404)
        consulting = self._consulting(view)
        allowed = {action.value: may(user, action, view, consulting) for action in DeskAction}
        return self._render(
            request,
            "case.html",
            c=view,
            may=allowed,
            root_causes=self.desk.root_causes,
            consults=[
                reason
                for reason, team in (
                    open_consults(view, self.desk.policy) if self.desk.policy else {}
                ).items()
                if team == user.team
            ],
            message_id=f"desk-{secrets.token_hex(8)}",  # a double submit posts once
            colleagues=self._colleagues(view) if allowed[DeskAction.REASSIGN] else [],
        )

    def _colleagues(self, view: CaseView) -> list[Agent]:
        """Whom a supervisor may give the case to: its team's other agents."""
        holder = view.assigned_agent or view.offered_to
        return [
            a
            for a in self.desk.directory.directory().agents
            if a.team == view.assigned_team and a.id != holder
        ]

    @_signed_in
    async def act(self, request: Request, user: DeskUser) -> Response:
        """A form on a case: accept, decline, reply, resolve, follow-up, rating, escalate,
        consult, approval, reassign."""
        action = CASE_ACTIONS.get(request.path_params["action"])
        if action is None:
            return self._error(request, "not_found", 404)
        return await self._act(request, user, action)

    @_signed_in
    async def team(self, request: Request, user: DeskUser) -> Response:
        """A supervisor's queue: their teams' open cases and agents."""
        if not user.supervises:
            return self._error(request, "forbidden", 403)
        directory = self.desk.directory.directory()
        loads = self.desk.directory.loads()
        agents = [a for a in directory.agents if may_set_presence(user, a.team)]
        cases = [v for _, v in self._visible_rows(user, self._team_rows(user.supervises))]
        return self._render(
            request,
            "team.html",
            agents=agents,
            loads=loads,
            cases=sorted(cases, key=lambda c: (c.assigned_team or "", c.handoff_at or c.opened_at)),
            presences=[p.value for p in Presence],
        )

    @_signed_in
    async def presence(self, request: Request, user: DeskUser) -> Response:
        """A supervisor sets an agent's presence; waiting cases hear of a free agent."""
        form = await request.form()
        if not _csrf_ok(request, form.get("csrf")):
            return self._error(request, "forbidden", 403)
        agent_id = str(form.get("agent", ""))
        agent = next((a for a in self.desk.directory.directory().agents if a.id == agent_id), None)
        if agent is None or not may_set_presence(user, agent.team):
            return self._error(request, "forbidden", 403)
        try:
            presence = Presence(str(form.get("presence", "")))
        except ValueError:
            return self._error(request, message=f"no presence {form.get('presence')!r}", status=400)
        self.desk.directory.set_presence(agent.id, presence)
        if presence is Presence.AVAILABLE:
            await self.desk.client.wake_queued_cases()
        log.info("desk presence", person=user.id, agent=agent.id, presence=presence.value)
        return RedirectResponse("/team", status_code=303)

    def _team_rows(self, teams: frozenset[str]) -> list[CaseRow]:
        """Stored open cases of ``teams``."""
        with Session(self.desk.store.engine) as session:
            return list(
                session.exec(
                    select(CaseRow).where(
                        col(CaseRow.assigned_team).in_(sorted(teams)),
                        col(CaseRow.closed_at).is_(None),
                    )
                ).all()
            )

    async def link(self, request: Request) -> Response:
        """What a one-click link will do, with the button that does it (a mail scanner
        fetching the link changes nothing)."""
        claim = self._claim(request)
        if isinstance(claim, Response):
            return claim
        question = catalog(self._language(request))[f"link_confirm_{claim.action}"]
        return self._render(
            request,
            "link.html",
            claim=claim,
            question=question.format(case=claim.case_id, agent=claim.person),
        )

    async def use_link(self, request: Request) -> Response:
        """Do what the link says, once, as the person it was sent to."""
        form = await request.form()
        if not _csrf_ok(request, form.get("csrf")):
            return self._error(request, "forbidden", 403)
        claim = self._claim(request)
        if isinstance(claim, Response):
            return claim
        reason = str(form.get("reason", "")).strip()[:2000]
        if not reason and claim.action == "decline":
            reason = "declined by link"  # a denial, though, must say why
        try:
            await self._redeem(claim, reason)
        except _Refused as refused:
            message = refused.text(catalog(self._language(request)))
            return self._error(request, message=message, status=refused.status)
        return self._render(request, "link_done.html", claim=claim)

    async def slack_action(self, request: Request) -> Response:
        """An offer's Accept or Decline button clicked in Slack: the request must carry
        Slack's signature over a recent timestamp, the button the offer's signed token,
        and the clicking member must be the agent it was offered to. The outcome
        replaces the message (or, refused, is shown to the clicker only)."""
        secret = self.desk.slack_signing_secret
        body = await request.body()
        if not secret or not SignatureVerifier(secret).is_valid_request(
            body, dict(request.headers)
        ):
            log.warning("slack request refused: bad or old signature")
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        try:
            payload = json.loads(parse_qs(body.decode())["payload"][0])
            button = payload["actions"][0]
            clicker, response_url = payload["user"]["id"], payload["response_url"]
        except (KeyError, IndexError, ValueError, TypeError):
            return JSONResponse({"error": "not a block action"}, status_code=400)
        done, text = await self._slack_click(button, clicker)
        answer = {"replace_original": done, "text": text}
        if not done:
            answer["response_type"] = "ephemeral"
        async with httpx.AsyncClient(timeout=5) as client:
            await client.post(response_url, json=answer)
        return Response(status_code=200)

    async def _slack_click(self, button: dict[str, Any], clicker: str) -> tuple[bool, str]:
        """Act on a Slack button; (acted, what to tell Slack)."""
        texts = catalog("en")
        action = {"baton_accept": "accept", "baton_decline": "decline"}.get(button.get("action_id"))
        if action is None or self.desk.links is None:
            return False, texts["link_invalid"]
        try:
            claim = self.desk.links.read(str(button.get("value", "")))
        except LinkError as err:
            return False, texts[f"link_{err.reason}"]
        if claim.action != action:
            return False, texts["link_invalid"]
        agent = next(
            (a for a in self.desk.directory.directory().agents if a.id == claim.person), None
        )
        if agent is None or agent.slack_user != clicker:
            return False, texts["link_not_yours"]
        try:
            await self._redeem(claim, "declined in Slack")
        except _Refused as refused:
            return False, refused.text(texts)
        return True, f"{claim.case_id}: {texts[f'link_done_{action}']} ({agent.name})"

    async def _redeem(self, claim: LinkClaim, reason: str) -> None:
        """Do what a one-click link or Slack button claims, once, as the person it was
        sent to, with ``reason`` (a decline's or an approval's); :class:`_Refused` says
        why not."""
        person = desk_user(claim.person, self.desk.directory.directory())
        action = LINK_ACTIONS[claim.action]
        if claim.action == "deny" and not reason:
            raise _Refused("reason_needed", 400)  # before the link is spent
        try:
            view = await self.desk.client.case(claim.case_id)
        except (CaseNotFound, ValueError):
            raise _Refused("not_found", 404) from None
        if not may(person, action, view):
            moved_on = "link_not_waiting" if action is DeskAction.APPROVE else "link_not_offered"
            raise _Refused(moved_on, 409)
        if not self.desk.accounts.use_link(claim.nonce, claim.case_id):
            raise _Refused("link_used", 410)
        fields = {"reason": reason, "decision": claim.action}
        try:
            await self._send(action, claim.case_id, person.id, fields)
        except CaseRequestRejected as err:
            raise _Refused("refused", 409, str(err)) from None
        log.info("desk link used", person=person.id, action=claim.action, case_id=claim.case_id)

    def _claim(self, request: Request) -> LinkClaim | Response:
        """The link's claim, or the page saying why it cannot be used."""
        if self.desk.links is None:
            return self._error(request, "link_invalid", 404)
        try:
            claim = self.desk.links.read(request.path_params["token"])
        except LinkError as err:
            status = 404 if err.reason == "invalid" else 410
            return self._error(request, f"link_{err.reason}", status)
        user = self._user(request)
        if user is not None and user.id != claim.person:  # signed in as someone else
            return self._error(request, "link_not_yours", 403)
        if self.desk.accounts.link_used(claim.nonce):
            return self._error(request, "link_used", 410)
        return claim

    @_signed_in
    async def report(self, request: Request, user: DeskUser) -> Response:
        """A lead's KPI report of the last 30 days (the charts of ``baton report``)."""
        if not may_lead(user):
            return self._error(request, "forbidden", 403)
        until = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        until += timedelta(days=1)
        since = until - timedelta(days=REPORT_DAYS)
        targets = KpiTargets.load(KPI_CONFIG)
        kpis = period_report(self.desk.store, since, until, Dimension.WEEK, targets)
        page = HTMLResponse(report_html(kpis))
        page.headers["Content-Security-Policy"] = REPORT_POLICY  # its charts are inline
        return page

    @_signed_in
    async def proposals(self, request: Request, user: DeskUser) -> Response:
        """A lead's learning proposals with their evidence."""
        if not may_lead(user):
            return self._error(request, "forbidden", 403)
        found = []
        for row in self.desk.store.proposals():
            try:
                found.append((row, learning.load_proposal(row)))
            except BrokenProposal:
                continue  # `baton learning show` names what is wrong with it
        return self._render(
            request, "proposals.html", proposals=found, can_apply=self.desk.detector is not None
        )

    @_signed_in
    async def apply_proposal(self, request: Request, user: DeskUser) -> Response:
        """A lead applies a proposal: workers detect with it within seconds."""
        form = await request.form()
        if not _csrf_ok(request, form.get("csrf")):
            return self._error(request, "forbidden", 403)
        if not may_lead(user) or self.desk.detector is None:
            return self._error(request, "forbidden", 403)
        version = request.path_params["version"]
        try:
            learning.apply(self.desk.store, self.desk.detector, version, datetime.now(UTC))
        except LookupError:
            return self._error(request, "not_found", 404)
        except BrokenProposal as err:
            texts = catalog(self._language(request))
            return self._error(request, message=f"{texts['refused']}: {err}", status=409)
        log.info("desk proposal applied", person=user.id, version=version)
        return RedirectResponse("/proposals", status_code=303)

    async def changes(self, request: Request) -> Response:
        """The fingerprint of a page, for the page's script to reload it when it moves."""
        user = self._user(request)
        if user is None:
            return JSONResponse({"error": "signed out"}, status_code=401)
        page = request.query_params.get("page", "/")[:200]
        return JSONResponse({"fingerprint": self._fingerprint(user, page)})

    async def _act(self, request: Request, user: DeskUser, action: DeskAction) -> Response:
        form = await request.form()
        if not _csrf_ok(request, form.get("csrf")):
            return self._error(request, "forbidden", 403)
        case_id = request.path_params["case_id"]
        view = await self._visible(user, case_id)
        if view is None:
            return self._error(request, "not_found", 404)
        if not may(user, action, view, self._consulting(view)):
            return self._error(request, "forbidden", 403)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        try:
            if action is DeskAction.RATE:
                self.ratings.rate(_rating(view, user.id, fields))
            else:
                await self._send(action, case_id, user.id, fields)
        except (CaseRequestRejected, ValidationError) as err:
            texts = catalog(self._language(request))
            reason = err if isinstance(err, CaseRequestRejected) else _first_error(err)
            return self._error(request, message=f"{texts['refused']}: {reason}", status=409)
        log.info("desk action", person=user.id, action=action.value, case_id=case_id)
        target = {
            DeskAction.DECLINE: "/",
            DeskAction.ESCALATE: "/team",
            DeskAction.APPROVE: "/",  # denied, the case is no longer the approver's to see
        }.get(action, f"/cases/{case_id}")
        return RedirectResponse(target, status_code=303)

    async def _send(
        self, action: DeskAction, case_id: str, person: str, form: dict[str, str]
    ) -> None:
        """The wire call an action stands for."""
        client = self.desk.client
        if action is DeskAction.ACCEPT:
            await client.accept(case_id, person)
        elif action is DeskAction.DECLINE:
            await client.decline(case_id, person, form.get("reason", "")[:500])
        elif action is DeskAction.REPLY:
            message = {"message_id": form.get("message_id", ""), "author": "agent"}
            await client.post_message(case_id, message | {"text": form.get("text", "")})
        elif action is DeskAction.RESOLVE:
            follow_up = _follow_up(person, form)  # checked before the case moves
            resolution = {"by": person, "resolution": form.get("resolution", "")}
            await client.resolve(case_id, resolution)
            await client.follow_up(case_id, follow_up)
        elif action is DeskAction.FOLLOW_UP:
            await client.follow_up(case_id, _follow_up(person, form))
        elif action is DeskAction.CONSULT:
            reason, answer = form.get("reason", ""), form.get("answer", "")
            await client.consult_answer(case_id, person, reason, answer)
        elif action is DeskAction.ESCALATE:
            await client.escalate(case_id, person, form.get("reason", "")[:2000])
        elif action is DeskAction.REASSIGN:
            agent, reason = form.get("agent", ""), form.get("reason", "")[:2000]
            await client.reassign(case_id, person, agent, reason)
        elif action is DeskAction.APPROVE:
            approve = {"approve": True, "deny": False}.get(form.get("decision", ""))
            if approve is None:
                raise CaseRequestRejected("the decision is approve or deny")
            await client.decide_approval(case_id, person, approve, form.get("reason", "")[:2000])

    # ------------------------------------------------------------------ helpers
    def _user(self, request: Request) -> DeskUser | None:
        """The signed-in person, if any."""
        return self._who(request)[0]

    def _who(self, request: Request) -> tuple[DeskUser | None, DeskAccountRow | None]:
        """The signed-in person and their account, looked up once per request."""
        if not hasattr(request.state, "who"):
            request.state.who = self._find(request)
        who: tuple[DeskUser | None, DeskAccountRow | None] = request.state.who
        return who

    def _find(self, request: Request) -> tuple[DeskUser | None, DeskAccountRow | None]:
        person = request.session.get("person")
        if not isinstance(person, str):
            return self._proxied_user(request)
        account = self.desk.accounts.account(person)
        if account is None:  # removed since: the session ends with it
            request.session.clear()
            return None, None
        return desk_user(person, self.desk.directory.directory(), account.lead), account

    def _proxied_user(self, request: Request) -> tuple[DeskUser | None, DeskAccountRow | None]:
        """The person an authenticating proxy vouches for (single sign-on): only from a
        trusted proxy's address, only someone the directory or an account knows."""
        proxy = self.desk.proxy
        person = request.headers.get(proxy.header) if proxy else None
        if proxy is None or not person:
            return None, None
        address = request.client.host if request.client else ""
        if address not in proxy.trusted:
            log.warning("desk identity header from an untrusted address", address=address)
            return None, None
        account = self.desk.accounts.account(person)
        user = desk_user(person, self.desk.directory.directory(), bool(account and account.lead))
        if not (user.agent or user.supervises or user.lead):
            return None, None
        return user, account

    async def _visible(self, user: DeskUser, case_id: str) -> CaseView | None:
        try:
            view = await self.desk.client.case(case_id)
        except (CaseNotFound, ValueError):
            return None
        return view if may(user, DeskAction.VIEW, view, self._consulting(view)) else None

    def _rows_near(self, person: str) -> list[CaseRow]:
        """Stored cases that may be offered or assigned to ``person``, or wait for their
        approval (the rules pick)."""
        with Session(self.desk.store.engine) as session:
            return list(
                session.exec(
                    select(CaseRow).where(
                        or_(
                            col(CaseRow.state) == CaseState.HANDOFF.value,
                            col(CaseRow.assigned_agent) == person,
                            col(CaseRow.level) == int(EscalationLevel.CONSULT),
                            col(CaseRow.approver) == person,
                        ),
                        col(CaseRow.closed_at).is_(None),
                    )
                ).all()
            )

    def _visible_rows(self, user: DeskUser, rows: list[CaseRow]) -> list[tuple[CaseRow, CaseView]]:
        pairs = [(r, CaseView.model_validate_json(r.view_json)) for r in rows]
        return [(r, v) for r, v in pairs if may(user, DeskAction.VIEW, v, self._consulting(v))]

    def _consulting(self, view: CaseView) -> frozenset[str]:
        """The teams the case waits on for expert input."""
        policy = self.desk.policy
        return frozenset(open_consults(view, policy).values()) if policy else frozenset()

    def _fingerprint(self, user: DeskUser, page: str) -> str:
        """What the page shows, condensed: it changes when the page would (one query of
        the store, never Temporal)."""
        parts: list[object] = []
        if page == "/":
            rows = self._rows_near(user.id)
        elif page == "/team" and user.supervises:
            rows = self._team_rows(user.supervises)
            loads = self.desk.directory.loads()
            parts = [
                (a.id, a.presence.value, loads[a.id].active_cases if a.id in loads else 0)
                for a in self.desk.directory.directory().agents
                if may_set_presence(user, a.team)
            ]
        elif page.startswith("/cases/"):
            row = self.desk.store.case(page.removeprefix("/cases/"))
            rows = [row] if row else []
        else:
            rows = []
        parts += [(r.case_id, r.revision) for r, _ in self._visible_rows(user, rows)]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]

    def _language(self, request: Request) -> str:
        account = self._who(request)[1]
        return negotiate(request.headers.get("accept-language", ""), account and account.language)

    def _zone(self, request: Request) -> ZoneInfo:
        """The account's time zone, else that of the agent's team's calendar, else UTC."""
        user, account = self._who(request)
        name = account.timezone if account else None
        if name is None and user is not None and user.team is not None:
            teams = self.desk.directory.directory().teams
            name = next((t.calendar.timezone for t in teams if t.id == user.team), None)
        try:
            return ZoneInfo(name or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    def _render(
        self,
        request: Request,
        template: str,
        status: int = 200,
        error_key: str | None = None,
        error: str | None = None,
        **context: Any,
    ) -> Response:
        language = self._language(request)
        texts = catalog(language)
        user = self._user(request)
        if "csrf" not in request.session:
            request.session["csrf"] = secrets.token_urlsafe(32)
        zone = self._zone(request)
        page = self.templates.get_template(template).render(
            t=texts,
            lang=language,
            person=user.id if user else None,
            supervisor=bool(user and user.supervises),
            lead=bool(user and user.lead),
            page=request.url.path,
            fingerprint=self._fingerprint(user, request.url.path) if user else "",
            poll_ms=self.poll_ms,
            csrf=request.session["csrf"],
            error=texts[error_key] if error_key else error,
            when=lambda at: _when(at, zone),
            **context,
        )
        return HTMLResponse(page, status_code=status)

    def _error(
        self, request: Request, key: str | None = None, status: int = 400, message: str = ""
    ) -> Response:
        return self._render(request, "error.html", status, error_key=key, error=message or None)


def _csrf_ok(request: Request, token: Any) -> bool:
    """The form carries this session's token and, if the browser names one, comes from
    this origin."""
    expected = request.session.get("csrf")
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        return False
    return (
        isinstance(expected, str)
        and isinstance(token, str)
        and secrets.compare_digest(expected, token)
    )


def _follow_up(person: str, form: dict[str, str]) -> FollowUpRequest:
    """The follow-up form as the wire's request; ValidationError names a bad field."""
    necessary = {"yes": True, "no": False}.get(form.get("escalation_necessary", ""))
    return FollowUpRequest.model_validate(
        {
            "by": person,
            "root_cause": form.get("root_cause", ""),
            "escalation_necessary": necessary,
            "timing": form.get("timing") or None,
            "lesson": form.get("lesson", ""),
        }
    )


def _rating(view: CaseView, person: str, form: dict[str, str]) -> HandoffRating:
    """The rating form as a rating of the case's latest handoff."""
    return HandoffRating.model_validate(
        {
            "case_id": view.case_id,
            "handoff": max(1, view.handoffs),
            "by": person,
            "package_enough": form.get("package_enough") == "yes",
            "asked_again": form.get("asked_again") == "yes",
            "missing": form.get("missing", ""),
        }
    )


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


def _when(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
