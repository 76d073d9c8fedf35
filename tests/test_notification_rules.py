"""Who hears what (pure rules), the notifications file and its templates, checked at start."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from baton.notify.config import load_notification_config
from baton.notify.templates import Templates
from baton.settings import DEFAULT_NOTIFICATIONS, ConfigError
from domain.examples import example_notifications
from domain.models import CaseSnapshot, Notification
from domain.notifications import AddressBook, NotificationEvent, plan_deliveries


def _notification(**overrides: object) -> Notification:
    case = CaseSnapshot(
        case_id="C-1",
        subject="Card charged twice",
        customer_id="cust-1",
        customer_email="ada@example.com",
        path="billing",
        reasons=["high_amount"],
    )
    values: dict[str, object] = {
        "key": "C-1/4/case_escalated/billing-frontline",
        "case_id": "C-1",
        "event": "case_escalated",
        "recipient": "billing-frontline",
        "recipient_kind": "team",
        "channel": "default",
        "language": "en",
        "subject": "s",
        "body": "b",
        "case": case,
    }
    values.update(overrides)
    return Notification.model_validate(values)


BOOK = AddressBook.model_validate(
    {
        "kinds": {
            "team": [{"channel": "email", "to": "{contact}"}, {"channel": "hook"}],
            "agent": [{"channel": "email", "to": "{id}@example.com"}],
        },
        "customer": {"email": [{"channel": "email", "to": "{email}"}]},
        "recipients": {
            "compliance": [{"channel": "teams"}],
            "product": [{"channel": "slack"}],
        },
        "rules": [
            {"events": ["case_escalated"], "reasons": ["fraud"], "notify": ["compliance"]},
            {"paths": ["billing"], "notify": ["compliance", "product"]},
        ],
    }
)


def test_a_team_is_reached_on_each_endpoint_and_rules_add_recipients() -> None:
    planned = plan_deliveries(_notification(), BOOK, {"billing-frontline": "billing@example.com"})
    assert [(d.recipient, d.channel, d.to) for d in planned] == [
        ("billing-frontline", "email", "billing@example.com"),
        ("billing-frontline", "hook", ""),
        ("compliance", "teams", ""),  # the billing-path rule, not the fraud one
        ("product", "slack", ""),
    ]
    # Keys are attempt-independent and distinct per recipient and channel.
    assert planned[0].key == "C-1/4/case_escalated/billing-frontline#email"
    assert planned[2].key == "C-1/4/case_escalated/compliance#teams"
    assert all(d.notification_key == "C-1/4/case_escalated/billing-frontline" for d in planned)


def test_rules_match_on_event_path_and_reason() -> None:
    other_path = _notification(case=_notification().case.model_copy(update={"path": "x"}))  # type: ignore[union-attr]
    assert [d.recipient for d in plan_deliveries(other_path, BOOK, {})] == ["billing-frontline"] * 2
    fraud = other_path.case.model_copy(update={"reasons": ["fraud"]})  # type: ignore[union-attr]
    planned = plan_deliveries(_notification(case=fraud), BOOK, {})
    assert "compliance" in [d.recipient for d in planned]
    offered = plan_deliveries(_notification(case=fraud, event="case_offered"), BOOK, {})
    assert "compliance" not in [d.recipient for d in offered]


def test_missing_addresses_and_recipients_are_explicit() -> None:
    no_contact = plan_deliveries(_notification(), BOOK, {})
    assert no_contact[0].unresolved == "billing-frontline has no contact"
    customer = _notification(
        recipient="cust-1", recipient_kind="customer", channel="email", key="C-1/5/x/cust-1"
    )
    assert plan_deliveries(customer, BOOK, {})[0].to == "ada@example.com"
    nowhere = plan_deliveries(_notification(recipient_kind="person", recipient="x"), BOOK, {})
    assert nowhere[0].channel == "" and nowhere[0].key.endswith("#")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"rules": [{"notify": ["nobody"]}]}, "rules.0.notify: nobody not in [recipients]"),
        ({"kinds": {"agent": [{"channel": "email", "to": "{name}"}]}}, "unknown fields: name"),
    ],
)
def test_bad_address_books_name_the_problem(change: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named.replace("[", r"\[").replace("]", r"\]")):
        AddressBook.model_validate(change)


def test_the_shipped_configuration_loads_and_every_template_renders(policy) -> None:
    config = load_notification_config(DEFAULT_NOTIFICATIONS)
    assert config.templates.is_dir()
    assert {"email", "ops-webhook", "slack-support", "teams-management"} <= set(config.channels)
    Templates(config.templates).check(example_notifications(policy))


def test_examples_cover_every_event_in_every_language(policy) -> None:
    examples = example_notifications(policy)
    covered = {(n.event, n.language.value) for n in examples}
    assert covered == {(e.value, lang) for e in NotificationEvent for lang in ("en", "de")}


def test_a_broken_template_stops_the_start(tmp_path: Path, policy) -> None:
    folder = tmp_path / "templates"
    shutil.copytree(load_notification_config().templates, folder)
    (folder / "de" / "sla_breached.j2").write_text(
        "{% block subject %}{{ data.no_such_field }}{% endblock %}{% block text %}x{% endblock %}"
    )
    (folder / "en" / "chain_step.j2").unlink()
    (folder / "en" / "case_offered.j2").write_text("{% block subject %}{{ case.subject }}")
    with pytest.raises(ConfigError) as err:
        Templates(folder).check(example_notifications(policy))
    message = str(err.value)
    assert "de/sla_breached.j2" in message and "no_such_field" in message
    assert "en/chain_step.j2: missing" in message
    assert "en/case_offered.j2" in message  # a syntax error


def test_bad_notification_files_name_the_key(tmp_path: Path) -> None:
    text = DEFAULT_NOTIFICATIONS.read_text()
    path = tmp_path / "notifications.toml"
    path.write_text(text.replace('secret_env = "BATON_WEBHOOK_SECRET"', "", 1))
    with pytest.raises(ConfigError, match=r"channels\.ops-webhook\.webhook"):
        load_notification_config(path)
    path.write_text(text.replace('{ channel = "slack-support" }]', '{ channel = "pager" }]', 1))
    with pytest.raises(ConfigError, match="unknown channels: pager"):
        load_notification_config(path)
