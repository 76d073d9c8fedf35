"""The engine's own metrics, recorded from the case workflow through Temporal's
replay-safe metric meter (nothing is recorded again when a history replays).

Exported with the SDK's runtime metrics on the worker's Prometheus endpoint
(``BATON_METRICS_ADDRESS``):

* ``baton_cases_opened`` {channel, customer_tier}
* ``baton_escalations`` {reason, level, path}: every move to a human or up a tier
* ``baton_time_to_handoff`` {path, severity}: opening to the first handoff
* ``baton_sla_breaches`` {path, tier, severity}
* ``baton_cases_closed`` {outcome}
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.models import CaseEvent, CaseView
    from domain.states import CaseState, Trigger


def record(events: list[CaseEvent], view: CaseView) -> None:
    """Count what the case's new history entries stand for."""
    meter = workflow.metric_meter()
    for event in events:
        if event.trigger is Trigger.OPENED:
            meter.create_counter("baton_cases_opened", "Cases opened").add(
                1, {"channel": view.channel.value, "customer_tier": view.customer.tier.value}
            )
        elif event.trigger is Trigger.ESCALATED:
            meter.create_counter("baton_escalations", "Escalations to a human or a tier up").add(
                1,
                {
                    "reason": event.reason or "next_tier",
                    "level": str(int(event.level)),
                    "path": view.path,
                },
            )
            if _first_escalation(view, event):
                meter.create_histogram_timedelta(
                    "baton_time_to_handoff", "From opening to the first handoff", "ms"
                ).record(
                    event.at - view.opened_at,
                    {"path": view.path, "severity": event.severity.value},
                )
        elif event.trigger is Trigger.SLA_BREACHED:
            meter.create_counter("baton_sla_breaches", "SLA breaches").add(
                1,
                {
                    "path": view.path,
                    "tier": event.tier.value if event.tier else "",
                    "severity": event.severity.value,
                },
            )
        if event.to_state is CaseState.CLOSED and event.from_state is not CaseState.CLOSED:
            meter.create_counter("baton_cases_closed", "Cases closed").add(
                1, {"outcome": view.outcome.value if view.outcome else "none"}
            )


def _first_escalation(view: CaseView, event: CaseEvent) -> bool:
    return not any(e.trigger is Trigger.ESCALATED and e.seq < event.seq for e in view.history)
