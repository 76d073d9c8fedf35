"""``baton learning``: run the learning loop on demand, list and show proposals, apply one.

``run`` learns in this process from the documentation store (no Temporal connection
needed; the nightly ``LearningWorkflow`` does the same on the worker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from baton.cli.records import _day, _store
from baton.detection.loading import load_detector
from baton.reports import learning
from baton.reports.learning import BrokenProposal, NothingToLearn
from baton.settings import ConfigError, Settings
from domain.detector import Detector
from domain.learning import LearningProposal

out = Console()
err = Console(stderr=True)

learning_app = typer.Typer(
    help="The learning loop: propose thresholds and a risk model from documented cases.",
    no_args_is_help=True,
)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _detector() -> Detector:
    settings = Settings()
    try:
        return load_detector(settings.baton_config)
    except ConfigError as e:
        err.print(str(e), style="red", markup=False)
        raise typer.Exit(2) from None


@learning_app.command("run")
def run(
    since: Annotated[str | None, typer.Option(help="First day (UTC); default 30 days ago.")] = None,
    until: Annotated[str | None, typer.Option(help="Day after the last; default tomorrow.")] = None,
    apply: Annotated[bool, typer.Option(help="Activate the proposal at once.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Learn from the cases opened in [since, until) and store the proposal."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = _day(since, "--since") if since else today - timedelta(days=30)
    end = _day(until, "--until") if until else today + timedelta(days=1)
    if end <= start:
        err.print("[red]invalid input:[/red] --until must be after --since")
        raise typer.Exit(2)
    base = _detector()
    store = _store()
    now = datetime.now(UTC)
    try:
        active = learning.ActiveDetector(base, store, ttl=0)()
        proposal = learning.learn(store, active, start, end, now)
        learning.save(store, proposal, now)
        if apply:
            learning.apply(store, base, proposal.version, now)
    except NothingToLearn as e:
        err.print(f"[yellow]nothing to learn:[/yellow] {e}")
        raise typer.Exit(3) from None
    finally:
        store.close()
    if as_json:
        out.print_json(proposal.model_dump_json())
        return
    _print(proposal)
    verb = "applied" if apply else f"apply it with: baton learning apply {proposal.version}"
    out.print(f"proposal {proposal.version} stored; {verb}")


@learning_app.command("list")
def list_proposals(as_json: JsonFlag = False) -> None:
    """Every stored proposal, newest first, with its status."""
    store = _store()
    try:
        rows = store.proposals()
    finally:
        store.close()
    if as_json:
        out.print_json(
            data=[
                {
                    "version": r.version,
                    "status": r.status,
                    "based_on": r.based_on,
                    "created_at": r.created_at.isoformat(),
                    "applied_at": r.applied_at.isoformat() if r.applied_at else None,
                }
                for r in rows
            ]
        )
        return
    table = Table(title="Learning proposals")
    for column in ("version", "status", "based on", "created"):
        table.add_column(column)
    for r in rows:
        table.add_row(r.version, r.status, r.based_on, f"{r.created_at:%Y-%m-%d %H:%M}")
    out.print(table)


@learning_app.command("show")
def show(version: str, as_json: JsonFlag = False) -> None:
    """One proposal with its evidence and the product feedback."""
    store = _store()
    try:
        row = store.proposal(version)
        if row is None:
            err.print(f"[red]not found:[/red] no learning proposal {version!r}")
            raise typer.Exit(3)
        proposal = learning.load_proposal(row)
    except BrokenProposal as e:
        err.print(f"[red]broken:[/red] {e}")
        raise typer.Exit(2) from None
    finally:
        store.close()
    if as_json:
        out.print_json(proposal.model_dump_json())
    else:
        _print(proposal)


@learning_app.command("apply")
def apply_version(version: str, as_json: JsonFlag = False) -> None:
    """Activate a proposal: workers detect with its thresholds and model from now on
    (within 15 s, no restart) and every assessment records its version."""
    base = _detector()
    store = _store()
    try:
        proposal = learning.apply(store, base, version, datetime.now(UTC))
    except LookupError as e:
        err.print(f"[red]not found:[/red] {e.args[0]}")
        raise typer.Exit(3) from None
    except BrokenProposal as e:
        err.print(f"[red]refused:[/red] {e}")
        raise typer.Exit(2) from None
    finally:
        store.close()
    policy_version = f"{base.policy.version}@{proposal.version}"
    if as_json:
        out.print_json(data={"version": proposal.version, "policy_version": policy_version})
    else:
        out.print(f"{proposal.version} is active: assessments record {policy_version}")


def _print(p: LearningProposal) -> None:
    out.print(
        f"[bold]{p.version}[/bold] from {p.cases} cases opened {p.since} – {p.until} "
        f"({p.labelled} labelled), learned against {p.based_on}"
    )
    reasons = Table(title="Detection reasons")
    for column in ("reason", "fired", "escalated", "necessary", "unnecessary", "missed"):
        reasons.add_column(column, justify="left" if column == "reason" else "right")
    for s in p.reasons:
        reasons.add_row(
            s.reason,
            *(str(n) for n in (s.fired, s.escalated, s.necessary, s.unnecessary, s.missed)),
        )
    out.print(reasons)
    thresholds = Table(title="Thresholds")
    for column in ("threshold", "current", "proposed", "why"):
        thresholds.add_column(column)
    for t in p.thresholds:
        thresholds.add_row(t.key, f"{t.current:g}", f"{t.proposed:g}", t.why)
    out.print(thresholds)
    model = p.model.version if p.model else "none"
    out.print(f"risk model: {model} ({'retrained' if p.retrained else 'kept'})")
    if p.held_back:
        h = p.held_back
        out.print(
            f"held-back cases ({h.cases}): precision {h.precision_before:.2f} -> "
            f"{h.precision_after:.2f}, recall {h.recall_before:.2f} -> {h.recall_after:.2f}"
        )
    if p.feedback.innovation_requests or p.feedback.root_causes:
        out.print("[bold]For the product team[/bold]")
        for subject in p.feedback.innovation_requests:
            out.print(f"  innovation request: {subject}")
        for cause, n in p.feedback.root_causes.items():
            out.print(f"  recurring root cause: {cause} ({n} cases)")
    for reason, rate in p.feedback.packages_falling_short.items():
        out.print(f"  handoff packages for {reason}: enough in {rate:.0%} of ratings")
