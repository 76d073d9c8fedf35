"""``baton``: the command line for operators and integrators.

Exit codes: 0 done, 1 the case refused the request, 2 bad input, 3 case not found,
4 Temporal unreachable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table
from temporalio.service import RPCError

from baton.cli import codec as codec_cli
from baton.cli import desk as desk_cli
from baton.cli import learning as learning_cli
from baton.cli import records as records_cli
from baton.cli import report as report_cli
from baton.detection.evaluation import DataNotFound, evaluate
from baton.detection.loading import for_batches, load_detector, sentiment_scorers
from baton.detection.risk_training import train_detection
from baton.detection.transcript import TranscriptAssessor, TranscriptError, assess_batch
from baton.logging import configure_logging
from baton.notify.setup import load_checked
from baton.settings import ConfigError, Settings, describe, load_policy
from baton.store.cases import make_engine
from baton.store.directory import DirectoryError, DirectoryStore, read_directory
from baton.temporal.client import BatonClient, CaseAlreadyExists, CaseNotFound, CaseRequestRejected
from domain.detector import Detector
from domain.directory import Agent, Presence
from domain.models import Author, CaseView, Channel, CustomerTier, Language, wire_schemas
from domain.states import CaseState

T = TypeVar("T")

app = typer.Typer(help="Baton: the escalation engine for customer service.", no_args_is_help=True)
case_app = typer.Typer(help="Start, drive and inspect customer cases.", no_args_is_help=True)
app.add_typer(case_app, name="case")
app.add_typer(records_cli.export_app, name="export")
app.add_typer(records_cli.retention_app, name="retention")
case_app.command("export")(records_cli.case_export)
app.add_typer(codec_cli.codec_app_cli, name="codec")
app.command("report")(report_cli.report)
app.add_typer(learning_cli.learning_app, name="learning")
app.add_typer(desk_cli.desk_app, name="desk")

out = Console()
err = Console(stderr=True)


def _print_version(wanted: bool) -> None:
    if wanted:
        out.print(f"baton {metadata.version('baton')}", markup=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="The release."),
    ] = False,
) -> None:
    """Baton: the escalation engine for customer service."""

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _run(action: Callable[[BatonClient], Awaitable[T]]) -> T:
    """Connect, run ``action``, and turn the client's errors into exit codes."""

    async def main() -> T:
        try:
            client = await BatonClient.connect()
        except RuntimeError as e:
            err.print(f"[red]cannot reach Temporal:[/red] {e}")
            raise typer.Exit(4) from None
        return await action(client)

    try:
        return asyncio.run(main())
    except ConfigError as e:
        err.print(str(e), style="red", markup=False)
        raise typer.Exit(2) from None
    except ValidationError as e:
        err.print(f"[red]invalid input[/red]\n{describe(e)}")
        raise typer.Exit(2) from None
    except (CaseRequestRejected, CaseAlreadyExists) as e:
        err.print(f"[red]rejected:[/red] {e}")
        raise typer.Exit(1) from None
    except CaseNotFound as e:
        err.print(f"[red]not found:[/red] {e}")
        raise typer.Exit(3) from None


def _say(as_json: bool, text: str, data: Any) -> None:
    """Print ``text`` for people, or ``data`` as JSON with ``--json``."""
    if as_json:
        out.print_json(data=data)
    else:
        out.print(text)


def _print_json(model: BaseModel) -> None:
    out.print_json(model.model_dump_json())


@case_app.command("start")
def start(
    case_id: Annotated[str, typer.Argument(help="Your id of the case, e.g. C-1001.")],
    subject: Annotated[str, typer.Option(help="What the case is about.")],
    customer_id: Annotated[str, typer.Option(help="The customer's id.")],
    name: Annotated[str, typer.Option(help="The customer's name.")] = "",
    tier: Annotated[CustomerTier, typer.Option()] = CustomerTier.STANDARD,
    language: Annotated[Language, typer.Option()] = Language.EN,
    channel: Annotated[Channel, typer.Option()] = Channel.CHAT,
    as_json: JsonFlag = False,
) -> None:
    """Start a case (workflow ``case-<CASE_ID>``)."""
    payload = {
        "case_id": case_id,
        "customer": {"id": customer_id, "name": name, "tier": tier, "language": language},
        "channel": channel,
        "subject": subject,
    }
    started = _run(lambda c: c.start_case(payload))
    if as_json:
        _print_json(started)
    else:
        out.print(f"started case {started.case_id} (workflow {started.workflow_id})")


@case_app.command("message")
def message(
    case_id: str,
    text: Annotated[str, typer.Argument(help="The message text; '-' reads standard input.")],
    author: Annotated[Author, typer.Option()] = Author.CUSTOMER,
    message_id: Annotated[str | None, typer.Option("--id", help="Default: a new UUID.")] = None,
    amount: Annotated[float | None, typer.Option(help="Amount at stake, if any.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Post a message and print the case's assessment."""
    if text == "-":
        text = sys.stdin.read()
    payload: dict[str, Any] = {
        "message_id": message_id or str(uuid.uuid4()),
        "author": author,
        "text": text,
        "amount": amount,
    }
    assessment = _run(lambda c: c.post_message(case_id, payload))
    if as_json:
        _print_json(assessment)
        return
    reasons = ", ".join(f"{r.name} ({r.evidence})" for r in assessment.reasons) or "none"
    out.print(
        f"{assessment.state.value} · level {int(assessment.level)} · "
        f"{assessment.severity.value} · reasons: {reasons}"
        + (" · duplicate, ignored" if assessment.duplicate else "")
    )


@case_app.command("list")
def list_cases(
    state: Annotated[CaseState | None, typer.Option(help="Only cases in this state.")] = None,
    team: Annotated[str | None, typer.Option(help="Only cases assigned to this team.")] = None,
    level: Annotated[int | None, typer.Option(min=0, max=3, help="Only this level.")] = None,
    vip: Annotated[bool, typer.Option("--vip", help="Only VIP customers.")] = False,
    reason: Annotated[str | None, typer.Option(help="Only cases where this reason fired.")] = None,
    breached: Annotated[
        bool, typer.Option("--breached", help="Only cases with an SLA breach.")
    ] = False,
    query: Annotated[
        str | None, typer.Option(help="Any visibility query over the search attributes.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List cases by state, team, level, tier or reason (Temporal visibility), newest first."""
    clauses = [query] if query else []
    if state is not None:
        clauses.append(f'CaseState = "{state.value}"')
    if team is not None:
        clauses.append(f"AssignedTeam = {json.dumps(team)}")
    if level is not None:
        clauses.append(f"EscalationLevel = {level}")
    if vip:
        clauses.append('CustomerTier = "vip"')
    if reason is not None:
        clauses.append(f"EscalationReasons = {json.dumps(reason)}")
    if breached:
        clauses.append("SlaBreaches > 0")
    where = " AND ".join(f"({c})" for c in clauses)
    cases = _run(lambda c: c.list_cases(where, limit))
    if as_json:
        out.print_json(data=[c.model_dump(mode="json") for c in cases])
        return
    table = Table(title=f"Cases ({len(cases)})")
    for column in ("case", "state", "level", "severity", "team", "tier", "reasons", "started"):
        table.add_column(column)
    for c in cases:
        table.add_row(
            c.case_id,
            c.state or c.status,
            "-" if c.level is None else str(c.level),
            c.severity or "-",
            c.team or "-",
            c.customer_tier or "-",
            ", ".join(c.reasons) or "-",
            f"{c.started_at:%Y-%m-%d %H:%M}" if c.started_at else "-",
        )
    out.print(table)


@app.command("demo")
def demo(
    speed: Annotated[
        float, typer.Option(min=1, help="Divide every configured duration by this.")
    ] = 60.0,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Play only this scenario; repeatable.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Play bundled conversations (English and German: routine, angry, fraud, VIP, GDPR,
    innovation, nobody accepting) against the running server; watch them in the Web UI."""
    from rich.live import Live

    from baton.cli.demo import run_demo

    configure_logging(logging.WARNING)  # the demo's worker logs to stderr, quietly
    settings = Settings()
    live = None if as_json else Live(_demo_table([]), console=out, refresh_per_second=4)

    def show(progress: list[Any]) -> None:
        if live is not None:
            live.update(_demo_table(progress))

    async def main() -> list[Any]:
        try:
            return await run_demo(settings, speed, only, show)
        except RuntimeError as e:
            err.print(f"[red]cannot reach Temporal:[/red] {e}")
            raise typer.Exit(4) from None
        except ValueError as e:
            err.print(f"[red]{e}[/red]")
            raise typer.Exit(2) from None

    if live is not None:
        with live:
            results = asyncio.run(main())
    else:
        results = asyncio.run(main())
    if as_json:
        out.print_json(data=[r.model_dump(mode="json") for r in results])
    failed = [r for r in results if r.error]
    if failed:
        for r in failed:
            err.print(f"[red]{r.scenario}: {r.error}[/red]")
        raise typer.Exit(1)


def _demo_table(progress: list[Any]) -> Table:
    table = Table(title="baton demo: watch the cases in the Web UI (http://localhost:8233)")
    for column in ("scenario", "case", "step", "state", "level", "tier", "agent", "next timer"):
        table.add_column(column)
    for p in progress:
        table.add_row(
            p.title,
            p.case_id,
            f"{p.step}/{p.steps}",
            f"[red]{p.error}[/red]" if p.error else p.state,
            str(p.level),
            p.tier or "-",
            p.agent or "-",
            p.next or "-",
        )
    return table


@app.command("schema")
def schema(
    name: Annotated[
        str | None, typer.Argument(help="One payload (default: all), e.g. CaseInput.")
    ] = None,
) -> None:
    """JSON Schemas of every payload of the wire contract (for clients in any language)."""
    schemas = wire_schemas()
    if name is None:
        out.print_json(data=schemas)
        return
    if name not in schemas:
        err.print(f"[red]unknown payload {name!r}[/red]; one of: {', '.join(schemas)}")
        raise typer.Exit(2)
    out.print_json(data=schemas[name])


@case_app.command("show")
def show(case_id: str, as_json: JsonFlag = False) -> None:
    """Show the whole case: state, level, assignment, deadlines and history."""
    view = _run(lambda c: c.case(case_id))
    if as_json:
        _print_json(view)
    else:
        _print_view(view)


@case_app.command("accept")
def accept(case_id: str, agent_id: str, as_json: JsonFlag = False) -> None:
    """Accept a case offered to AGENT_ID."""
    _show_result(_run(lambda c: c.accept(case_id, agent_id)), as_json)


@case_app.command("consult-answer")
def consult_answer(
    case_id: str,
    by: Annotated[str, typer.Option("--by", help="The expert answering.")],
    reason: Annotated[str, typer.Option("--reason", help="The reason the AI asked about.")],
    answer: Annotated[str, typer.Argument(help="The expert's input for the AI.")],
    as_json: JsonFlag = False,
) -> None:
    """Answer the AI's request for input (level 1); the answer stays on the case."""
    _show_result(_run(lambda c: c.consult_answer(case_id, by, reason, answer)), as_json)


@case_app.command("decline")
def decline(
    case_id: str,
    agent_id: str,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the history).")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Decline a case offered to AGENT_ID: it goes to the next candidate."""
    _show_result(_run(lambda c: c.decline(case_id, agent_id, reason)), as_json)


@case_app.command("escalate")
def escalate(
    case_id: str,
    by: Annotated[str, typer.Option(help="Who escalates.")],
    reason: Annotated[str, typer.Option(help="Why.")],
    as_json: JsonFlag = False,
) -> None:
    """Escalate a case by hand (to a human, or to the next tier)."""
    _show_result(_run(lambda c: c.escalate(case_id, by, reason)), as_json)


@case_app.command("reassign")
def reassign(
    case_id: str,
    agent_id: str,
    by: Annotated[str, typer.Option(help="The supervisor reassigning it.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the history).")],
    as_json: JsonFlag = False,
) -> None:
    """Give CASE_ID to AGENT_ID: it is offered to them (or routed as usual if they cannot
    take it)."""
    _show_result(_run(lambda c: c.reassign(case_id, by, agent_id, reason)), as_json)


@case_app.command("approve")
def approve(
    case_id: str,
    by: Annotated[str, typer.Option(help="The management tier's supervisor.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the history).")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Approve the escalation to management that CASE_ID waits on: it goes up now."""
    _show_result(_run(lambda c: c.decide_approval(case_id, by, True, reason)), as_json)


@case_app.command("deny")
def deny(
    case_id: str,
    by: Annotated[str, typer.Option(help="The management tier's supervisor.")],
    reason: Annotated[str, typer.Option(help="Why it stays (required).")],
    as_json: JsonFlag = False,
) -> None:
    """Deny the escalation to management that CASE_ID waits on: it stays at its tier."""
    _show_result(_run(lambda c: c.decide_approval(case_id, by, False, reason)), as_json)


@case_app.command("resolve")
def resolve(
    case_id: str,
    by: Annotated[str, typer.Option(help="Who resolved it.")],
    resolution: Annotated[str, typer.Option(help="How it was resolved.")],
    root_cause: Annotated[str | None, typer.Option()] = None,
    necessary: Annotated[
        bool | None, typer.Option("--necessary/--not-necessary", help="Was escalating needed?")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Resolve a case; it moves to FOLLOW_UP (and closes if fully documented)."""
    payload = {
        "by": by,
        "resolution": resolution,
        "root_cause": root_cause,
        "escalation_necessary": necessary,
    }
    _show_result(_run(lambda c: c.resolve(case_id, payload)), as_json)


def _show_result(view: CaseView, as_json: bool) -> None:
    if as_json:
        _print_json(view)
    else:
        _print_view(view)


def _print_view(view: CaseView) -> None:
    table = Table(title=f"Case {view.case_id}", show_header=False)
    customer = view.customer
    rows = {
        "state": view.state.value,
        "level": str(int(view.level)),
        "severity": view.severity.value,
        "customer": f"{customer.id} ({customer.tier.value}, {customer.language.value})",
        "channel": view.channel.value,
        "path / tier": f"{view.path} / {view.tier.value if view.tier else '-'}",
        "team": view.assigned_team or "-",
        "agent": view.assigned_agent
        or (f"offered to {view.offered_to}" if view.offered_to else "-"),
        "reasons": ", ".join(r.name for r in view.reasons) or "-",
        "messages": str(view.message_count),
    }
    for key, value in rows.items():
        table.add_row(key, value)
    for deadline in view.deadlines:
        table.add_row("deadline", f"{deadline.summary} at {deadline.at:%Y-%m-%d %H:%M:%S %Z}")
    out.print(table)
    history = Table("#", "at", "trigger", "from → to", "cause", title="History")
    for e in view.history:
        history.add_row(
            str(e.seq),
            f"{e.at:%H:%M:%S}",
            e.trigger.value,
            f"{e.from_state.value} → {e.to_state.value}",
            e.cause,
        )
    out.print(history)


@app.command("config-check")
def config_check(
    path: Annotated[
        Path | None, typer.Argument(help="Default: BATON_CONFIG or config/escalation.toml.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Validate the escalation policy, the notification channels and every template."""
    settings = Settings()
    target = path or settings.baton_config
    try:
        detector = load_detector(target)
        config, _ = load_checked(detector.policy, settings.baton_notifications)
    except ConfigError as e:
        err.print(str(e), style="red", markup=False)
        raise typer.Exit(2) from None
    model = detector.risk_model.version if detector.risk_model else "none"
    triggers = detector.learned.model.version if detector.learned else "none"
    connected = [n for n, c in config.channels.items() if c.connected]
    text = (
        f"{target}: valid, version {detector.policy.version}, risk model {model}, "
        f"trigger model {triggers}\n"
        f"{settings.baton_notifications}: valid, {len(config.channels)} channel(s), "
        f"connected: {', '.join(connected) or 'none'}; templates render"
    )
    data = {
        "policy": str(target),
        "version": detector.policy.version,
        "risk_model": model,
        "trigger_model": triggers,
        "notifications": str(settings.baton_notifications),
        "channels": sorted(config.channels),
        "connected": connected,
    }
    _say(as_json, text, data)


agents_app = typer.Typer(help="The directory: list agents, add them, set presence.")
app.add_typer(agents_app, name="agents")


def _directory_store() -> DirectoryStore:
    settings = Settings()
    store = DirectoryStore(make_engine(settings.database_url))
    try:
        store.seed(read_directory(settings.baton_directory))
    except ConfigError as e:
        err.print(str(e), style="red", markup=False)
        raise typer.Exit(2) from None
    return store


def _directory_change(action: Callable[[], T]) -> T:
    try:
        return action()
    except DirectoryError as e:
        err.print(f"[red]refused:[/red] {e}")
        raise typer.Exit(1) from None
    except ValidationError as e:
        err.print(f"[red]invalid input[/red]\n{describe(e)}")
        raise typer.Exit(2) from None


@agents_app.callback(invoke_without_command=True)
def agents_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List agents with team, presence and load (the default)."""
    if ctx.invoked_subcommand is not None:
        return
    store = _directory_store()
    directory, loads = store.directory(), store.loads()
    if as_json:
        rows = [
            a.model_dump(mode="json") | {"active_cases": loads[a.id].active_cases}
            for a in directory.agents
        ]
        out.print_json(data=rows)
        return
    table = Table(title="Agents")
    for column in ("id", "name", "team", "languages", "skills", "presence", "load"):
        table.add_column(column)
    for a in directory.agents:
        skills = ", ".join(f"{k} {v}" for k, v in sorted(a.skills.items()))
        load = f"{loads[a.id].active_cases}/{a.max_cases}"
        languages = ", ".join(lang.value for lang in a.languages)
        table.add_row(a.id, a.name, a.team, languages, skills, a.presence.value, load)
    out.print(table)


@agents_app.command("presence")
def agents_presence(agent_id: str, presence: Presence, as_json: JsonFlag = False) -> None:
    """Set an agent's presence: available, busy, away or offline."""
    store = _directory_store()
    agent = _directory_change(lambda: store.set_presence(agent_id, presence))
    _say(as_json, f"{agent.id} is {agent.presence.value}", agent.model_dump(mode="json"))
    if presence is Presence.AVAILABLE:
        _wake_queued_cases()


def _wake_queued_cases() -> None:
    # Queued cases route again at once; without a reachable server they still do at
    # their next recheck, so this is a courtesy, not a requirement.
    async def wake() -> int:
        client = await BatonClient.connect()
        return await client.wake_queued_cases()

    try:
        woken = asyncio.run(wake())
    except (RuntimeError, OSError, RPCError) as e:
        err.print(f"note: cases waiting for an agent will retry at their next recheck ({e})")
        return
    if woken:
        out.print(f"told {woken} waiting case(s)")


@agents_app.command("add")
def agents_add(
    agent_id: str,
    name: Annotated[str, typer.Option("--name", help="Full name.")],
    team: Annotated[str, typer.Option("--team", help="Team id from the directory.")],
    language: Annotated[list[Language], typer.Option("--language", help="Repeat for each.")],
    skill: Annotated[
        list[str] | None, typer.Option("--skill", help="name=proficiency (1-5); repeatable.")
    ] = None,
    max_cases: Annotated[int, typer.Option("--max-cases")] = 3,
    title: Annotated[str, typer.Option("--title")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Add an agent to a team."""
    store = _directory_store()

    def add() -> Agent:
        skills = {}
        for entry in skill or []:
            skill_name, _, level = entry.partition("=")
            if not level.isdigit():
                raise DirectoryError(f"--skill {entry!r}: write name=proficiency, e.g. billing=4")
            skills[skill_name] = int(level)
        agent = Agent(
            id=agent_id,
            name=name,
            team=team,
            title=title,
            skills=skills,
            languages=language,
            max_cases=max_cases,
        )
        store.add_agent(agent)
        return agent

    agent = _directory_change(add)
    _say(as_json, f"added {agent.id} to {agent.team}", agent.model_dump(mode="json"))


@agents_app.command("remove")
def agents_remove(agent_id: str, as_json: JsonFlag = False) -> None:
    """Remove an agent who holds no active case."""
    store = _directory_store()
    _directory_change(lambda: store.remove_agent(agent_id))
    _say(as_json, f"removed {agent_id}", {"removed": agent_id})


@agents_app.command("reconcile")
def agents_reconcile(as_json: JsonFlag = False) -> None:
    """Release the slots of cases that no longer run (terminated by an operator, say):
    load never stays held by a case that cannot give it back itself."""
    store = _directory_store()
    held = sorted({a.case_id for a in store.active_assignments()})

    async def ended(client: BatonClient) -> list[str]:
        return [case_id for case_id in held if not await client.is_running(case_id)]

    gone = _run(ended)
    for case_id in gone:
        store.release(case_id)
    text = f"{len(held)} case(s) hold agents; released {len(gone)}: {', '.join(gone) or '-'}"
    _say(as_json, text, {"holding": held, "released": gone})


@agents_app.command("load")
def agents_load(
    path: Annotated[Path, typer.Argument(help="A directory file like config/directory.toml.")],
    as_json: JsonFlag = False,
) -> None:
    """Replace teams and agents by a directory file (loads of kept agents stay)."""
    store = _directory_store()
    try:
        directory = read_directory(path)
    except ConfigError as e:
        err.print(str(e), style="red", markup=False)
        raise typer.Exit(2) from None
    _directory_change(lambda: store.replace(directory))
    text = f"loaded {len(directory.teams)} teams and {len(directory.agents)} agents"
    _say(as_json, text, {"teams": len(directory.teams), "agents": len(directory.agents)})


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Policy file. Default: BATON_CONFIG or config/escalation.toml."),
]


def _detector(config: Path | None, with_model: bool = True) -> Detector:
    target = config or Settings().baton_config
    try:
        if with_model:
            return load_detector(target)
        return Detector(load_policy(target), sentiment_scorers(), None)
    except ConfigError as e:
        err.print(f"[red]{e}[/red]")
        raise typer.Exit(2) from None


@app.command("assess")
def assess(
    transcript: Annotated[
        str | None, typer.Argument(help="A JSON Lines transcript, or - for stdin.")
    ] = None,
    batch: Annotated[
        str | None,
        typer.Option(
            "--batch", help="A JSON Lines file of whole conversations (- for stdin): one "
            "assessment a conversation, in input order."
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Assess a transcript with the worker's detector: one JSON assessment per message.

    Lines: an optional first ``{"customer": {"tier": "vip", "language": "de"}}``, then
    ``{"author": "customer"|"ai"|"agent", "text": "...", "amount": 1200.0}``.
    With ``--batch``, each line is ``{"id": ..., "customer": {...}, "messages": [...]}``
    and its result is the standing after its last message; a bad line gets
    ``{"line": n, "error": ...}`` in its place (exit code 2 at the end) and the rest run.
    """
    if (transcript is None) == (batch is None):
        err.print("[red]give a transcript or --batch FILE, not both[/red]")
        raise typer.Exit(2)
    detector = _detector(config)
    source = transcript or batch or "-"
    try:
        lines = sys.stdin.buffer if source == "-" else _open_lines(source)
        if batch is not None:
            raise typer.Exit(_assess_batch(detector, lines))
        for line in TranscriptAssessor(detector).run(lines):
            sys.stdout.write(line.model_dump_json() + "\n")
    except TranscriptError as e:
        err.print(f"[red]{source}:[/red] {e}", markup=False)
        raise typer.Exit(2) from None


def _assess_batch(detector: Detector, lines: Iterable[bytes]) -> int:
    detector, prime = for_batches(detector)
    bad = 0
    for result in assess_batch(detector, lines, prime):
        if "error" in result:
            bad += 1
            err.print(f"line {result['line']}: {result['error']}", markup=False)
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    return 2 if bad else 0


def _open_lines(path: str) -> Iterable[bytes]:
    try:
        return Path(path).open("rb")
    except OSError as e:
        raise TranscriptError(f"cannot read: {e.strerror}") from None


detection_app = typer.Typer(help="Train and measure the detector.", no_args_is_help=True)
app.add_typer(detection_app, name="detection")


@detection_app.command("train")
def detection_train(config: ConfigOption = None) -> None:
    """Retrain the learned triggers and the risk model on the shared data's training
    split; write both beside the policy (``make train-detection``)."""
    target = config or Settings().baton_config
    try:
        (trigger_path, triggers), (risk_path, risk) = train_detection(
            target, Settings().baton_data_dir / "embeddings", os.cpu_count() or 1
        )
    except (DataNotFound, ConfigError) as e:
        err.print(f"[red]{e}[/red]")
        raise typer.Exit(2) from None
    out.print(f"wrote {trigger_path}: version {triggers.version}")
    for head in triggers.heads:
        out.print(f"  {head.reason}: threshold {head.threshold:.2f}, {head.metrics}")
    out.print(f"wrote {risk_path}: version {risk.version}")
    out.print_json(data=risk.metrics)


@detection_app.command("eval")
def detection_eval(
    config: ConfigOption = None,
    as_json: JsonFlag = False,
    output: Annotated[
        Path | None, typer.Option("--output", help="Also write the figures as JSON here.")
    ] = None,
) -> None:
    """Measure the detector per trigger and language on the held-back shared data,
    against a TF-IDF baseline trained in the same run (``make eval-detection``)."""
    target = config or Settings().baton_config
    detector = _detector(target)
    try:
        figures = evaluate(detector, target, Settings().baton_data_dir / "embeddings")
    except (DataNotFound, ConfigError) as e:
        err.print(f"[red]{e}[/red]")
        raise typer.Exit(2) from None
    if output is not None:
        output.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    if as_json:
        out.print_json(data=figures)
        return
    _print_evaluation(figures)


def _row(table: Table, label: str, key: str, block: dict[str, Any]) -> None:
    d, b = block["detector"], block["baseline_tfidf"]
    table.add_row(
        label,
        key,
        str(block.get("positives", d["tp"] + d["fn"])),
        str(d["n"]),
        *(f"{d[k]:.2f}" for k in ("recall", "precision", "f1")),
        f"{d['false_alarm']:.1%}",
        *(f"{b[k]:.2f}" for k in ("recall", "f1")),
        f"{b['false_alarm']:.1%}",
    )


def _print_evaluation(figures: dict[str, Any]) -> None:
    table = Table(
        title=f"Triggers on held-back data (policy {figures['policy_version']}, "
        f"triggers {figures['trigger_model_version']}, risk {figures['model_version']})"
    )
    table.caption = "R recall, P precision, FA false alarms; base: the TF-IDF baseline"
    for column in ("trigger", "data/lang"):
        table.add_column(column, no_wrap=True)
    for column in ("pos", "n", "R", "P", "F1", "FA", "base R", "base F1", "base FA"):
        table.add_column(column, justify="right")
    quiet: list[str] = []
    for reason, groups in figures["triggers"].items():
        for key, block in groups.items():
            if block["positives"]:
                _row(table, reason, key, block)
            elif block["detector"]["false_alarm"] >= 0.005:
                quiet.append(f"{reason} {key} {block['detector']['false_alarm']:.1%}")
    for key, block in figures["tickets"].items():
        pair = {"detector": block["escalate"], "baseline_tfidf": block["baseline_tfidf"]}
        _row(table, "escalate/priority", key, pair)
    Console(width=max(out.width, 130)).print(table)  # ten figures a row: never squeezed
    out.print("fires on data that labels no such trigger: " + ", ".join(quiet))
    for key, s in figures["own_phrasings"].items():
        if key.startswith("routine/"):
            out.print(f"own phrasings {key}: {s['escalation_rate']:.0%} of {s['n']} escalate")
            continue
        out.print(
            f"own phrasings {key}: recall {s['recall']:.2f}, false alarms {s['false_alarm']:.1%}"
        )
    for key, s in figures["transfer"].items():
        out.print(
            f"{key}: recall {s['recall']:.2f}, F1 {s['f1']:.2f}, "
            f"false alarms {s['false_alarm']:.1%}"
        )
    rates = ", ".join(f"{k} {v['escalation_rate']:.1%}" for k, v in figures["routine"].items())
    out.print(f"routine traffic escalates: {rates}")
    for label, c in figures["cost"].items():
        out.print(f"cost {label}: p50 {c['p50_ms']} ms, p99 {c['p99_ms']} ms, "
                  f"{c['messages_per_second']} messages/s on one thread")


def main() -> None:
    """Entry point of the ``baton`` console script.

    Ends the process with ``os._exit`` once the output is flushed: letting the
    interpreter finalize while the Temporal client's native threads are still
    alive occasionally aborts it ("PyGILState_Release ... finalizing") after the
    command has already succeeded.
    """
    code = 0
    try:
        app()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
