"""Delivery over real local servers: SMTP with STARTTLS and login, signed webhooks,
Slack and Teams formats; each message arrives once, after failures and hangs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from baton.notify.channels import message_id
from baton.notify.config import NotificationConfig
from baton.notify.deliverer import Deliverer, DeliveriesPending
from baton.notify.templates import Templates
from baton.store.cases import CaseStore
from tests.servers import SECRET, TEMPLATES, SmtpReceiver, WebhookReceiver, deliverer_for, example

pytestmark = pytest.mark.usefixtures("notification_secrets")


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpReceiver]:
    server = SmtpReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


async def test_email_over_starttls_with_login_arrives_once(
    smtp: SmtpReceiver, store: CaseStore, tmp_path: Path, policy: Any
) -> None:
    deliverer = deliverer_for(
        store, tmp_path, smtp, kinds={"agent": [{"channel": "email", "to": "{id}@example.com"}]}
    )
    offer = example(policy, "case_offered", "de")
    report = await deliverer.deliver([offer])
    again = await deliverer.deliver([offer])  # a retried or replayed activity
    key = f"{offer.key}#email"
    assert report.sent == [key] and again.sent == [key]
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail["To"] == f"{offer.recipient}@example.com"
    assert mail["Subject"].startswith(f"[{offer.case_id}] Fall für Sie")
    assert mail["Message-ID"] == message_id(key) and mail["Idempotency-Key"] == key
    body = mail.get_content()  # type: ignore[attr-defined]
    assert "Was auf dem Spiel steht" in body and "[customer] example" in body
    row = store.deliveries(offer.case_id)[0]
    assert (row.status, row.attempts, row.address) == ("sent", 1, mail["To"])
    assert store.outbox(offer.case_id)[0].status == "sent"
    await deliverer.close()


async def test_wrong_login_refused_and_malformed_addresses_fail_for_good(
    smtp: SmtpReceiver, store: CaseStore, tmp_path: Path, policy: Any, monkeypatch: Any
) -> None:
    smtp.refuse.add("ghost@example.com")
    deliverer = deliverer_for(
        store,
        tmp_path,
        smtp,
        kinds={"agent": [{"channel": "email", "to": "{id}"}]},  # no domain: malformed
        recipients={"ghost": [{"channel": "email", "to": "ghost@example.com"}]},
        rules=[{"events": ["case_offered"], "notify": ["ghost"]}],
    )
    offer = example(policy, "case_offered")
    report = await deliverer.deliver([offer])
    errors = {f.recipient: f.error for f in report.failed}
    assert errors[offer.recipient].startswith(f"malformed address '{offer.recipient}'")
    assert errors["ghost"].startswith("recipient refused: 550")
    assert smtp.messages == []
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
    team = example(policy, "case_escalated")
    login = deliverer_for(
        store, tmp_path, smtp, kinds={"team": [{"channel": "email", "to": "a@example.com"}]}
    )
    failed = (await login.deliver([team])).failed
    assert len(failed) == 1 and failed[0].error.startswith("SMTP 535")
    assert smtp.messages == []


async def test_signed_webhook_arrives_once_after_failures(
    receiver: WebhookReceiver, store: CaseStore, tmp_path: Path, policy: Any
) -> None:
    receiver.fail_first = 2
    deliverer = deliverer_for(
        store, tmp_path, receiver=receiver, kinds={"team": [{"channel": "hook"}]}
    )
    team = example(policy, "case_escalated")
    for _ in range(2):
        with pytest.raises(DeliveriesPending, match="HTTP 503"):
            await deliverer.deliver([team])
    report = await deliverer.deliver([team])
    await deliverer.deliver([team])
    key = f"{team.key}#hook"
    assert report.sent == [key]
    assert [c.status for c in receiver.calls] == [503, 503, 200]
    assert {c.headers["Idempotency-Key"] for c in receiver.calls} == {key}
    assert {c.headers["Webhook-Id"] for c in receiver.calls} == {key}
    call = receiver.accepted[0]
    payload = Webhook(SECRET).verify(call.body, call.headers)  # signed per Standard Webhooks
    assert payload["type"] == "baton.case_escalated" and payload["id"] == key
    data = payload["data"]
    assert data["case_id"] == team.case_id and data["case"]["path"] == team.case.path  # type: ignore[union-attr]
    assert data["subject"].startswith(f"[{team.case_id}] Escalated to")
    assert store.deliveries(team.case_id)[0].attempts == 3
    await deliverer.close()


async def test_a_hanging_receiver_is_given_up_on_and_retried(
    receiver: WebhookReceiver, store: CaseStore, tmp_path: Path, policy: Any
) -> None:
    receiver.hang_first, receiver.hang_seconds = 1, 2.0
    deliverer = deliverer_for(
        store, tmp_path, receiver=receiver, kinds={"team": [{"channel": "hook"}]}
    )
    team = example(policy, "case_escalated")
    with pytest.raises(DeliveriesPending, match="ReadTimeout"):
        await deliverer.deliver([team])
    assert (await deliverer.deliver([team])).sent == [f"{team.key}#hook"]
    assert len(receiver.accepted) == 1
    await deliverer.close()


@pytest.mark.parametrize("status", [401, 404, 410])
async def test_errors_retrying_cannot_fix_fail_once_and_for_all(
    status: int, receiver: WebhookReceiver, store: CaseStore, tmp_path: Path, policy: Any
) -> None:
    receiver.status = status
    deliverer = deliverer_for(
        store, tmp_path, receiver=receiver, kinds={"team": [{"channel": "slack"}]}
    )
    team = example(policy, "case_escalated")
    report = await deliverer.deliver([team])
    assert [f.error.split(":")[0] for f in report.failed] == [f"HTTP {status}"]
    assert (await deliverer.deliver([team])).failed == report.failed
    assert len(receiver.calls) == 1  # never tried again
    assert store.outbox(team.case_id)[0].status == "failed"
    await deliverer.close()


async def test_slack_and_teams_receive_their_formats(
    receiver: WebhookReceiver, store: CaseStore, tmp_path: Path, policy: Any
) -> None:
    deliverer = deliverer_for(
        store,
        tmp_path,
        receiver=receiver,
        kinds={"supervisor": [{"channel": "slack"}, {"channel": "teams"}]},
    )
    breach = example(policy, "sla_breached")
    report = await deliverer.deliver([breach])
    assert len(report.sent) == 2
    by_path = {c.path: c.json for c in receiver.accepted}
    slack = by_path["/slack"]
    assert slack["text"].startswith(f"[{breach.case_id}] SLA breached")
    assert slack["blocks"][0]["text"]["type"] == "mrkdwn"
    assert ":warning: *" in slack["blocks"][0]["text"]["text"]
    card = by_path["/teams"]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard"
    assert card["content"]["body"][0]["text"] == slack["text"]
    await deliverer.close()


async def test_unconnected_channels_are_skipped_and_unknown_recipients_fail(
    store: CaseStore, tmp_path: Path, policy: Any
) -> None:
    config = NotificationConfig.model_validate(
        {
            "channels": {"hook": {"kind": "webhook", "url_env": "UNSET_URL", "secret_env": "X"}},
            "kinds": {"team": [{"channel": "hook"}]},
        }
    )
    plain = Deliverer(config, Templates(TEMPLATES), store)
    team = example(policy, "case_escalated")
    offer = example(policy, "case_offered")  # an agent: no endpoint for agents
    report = await plain.deliver([team, offer])
    assert report.skipped == [f"{team.key}#hook"]
    assert [f.error for f in report.failed] == [f"no endpoint for agent {offer.recipient}"]
    assert {r.status for r in store.deliveries()} == {"skipped", "failed"}
