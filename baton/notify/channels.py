"""The channels: e-mail over SMTP, signed JSON webhooks, Slack and Teams incoming webhooks.

Each sender raises :class:`DeliveryError` with ``retryable`` saying whether another
attempt could succeed: a refused login, a 401/404 or a malformed address cannot, a
timeout, a 5xx or a 429 can. Every message carries the delivery's idempotency key
(``Idempotency-Key`` header; the e-mail's ``Message-ID`` is derived from it), so a
receiver can drop the copy a crash between sending and recording would cause.

Webhook signatures follow the Standard Webhooks specification (standardwebhooks.com):
``webhook-id`` (the idempotency key), ``webhook-timestamp`` (Unix seconds) and
``webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``; receivers
verify with any of the spec's libraries (see docs/notifications.md).
"""

from __future__ import annotations

import hashlib
import json
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import aiosmtplib
import httpx
from email_validator import EmailNotValidError, validate_email
from standardwebhooks import Webhook

from baton.notify.config import HttpChannel, SmtpChannel
from baton.notify.templates import Rendered
from domain.models import Notification
from domain.notifications import PlannedDelivery

USER_AGENT = "Baton-Notifications/1"
RETRYABLE_HTTP = frozenset({408, 409, 425, 429})


class DeliveryError(Exception):
    """A delivery attempt failed; ``retryable`` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        """An error for the outbox and, when final, for the case."""
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Outgoing:
    """What a sender needs: the delivery, its notification and the rendered text."""

    delivery: PlannedDelivery
    notification: Notification
    rendered: Rendered
    sent_at: datetime


# ------------------------------------------------------------------- e-mail
async def send_email(channel: SmtpChannel, out: Outgoing) -> None:
    """Send ``out`` as a plain-text e-mail through the channel's relay."""
    message = email_message(channel, out)
    context = ssl.create_default_context(cafile=str(channel.ca_file) if channel.ca_file else None)
    login = channel.login
    try:
        await aiosmtplib.send(
            message,
            hostname=channel.resolved_host,
            port=channel.port,
            use_tls=channel.tls,
            start_tls=channel.starttls,
            tls_context=context,
            username=login[0] if login else None,
            password=login[1] if login else None,
            timeout=channel.timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as err:
        codes = [r.code for r in err.recipients]
        detail = "; ".join(f"{r.code} {r.message}" for r in err.recipients)
        raise DeliveryError(f"recipient refused: {detail}", retryable=min(codes) < 500) from None
    except aiosmtplib.SMTPResponseException as err:
        raise DeliveryError(f"SMTP {err.code}: {err.message}", retryable=err.code < 500) from None
    except (aiosmtplib.SMTPException, OSError) as err:  # connect, TLS, timeout
        raise DeliveryError(f"SMTP: {err}", retryable=True) from None


def email_message(channel: SmtpChannel, out: Outgoing) -> EmailMessage:
    """The e-mail for ``out``; a malformed address is a :class:`DeliveryError` for good."""
    try:
        to = validate_email(out.delivery.to, check_deliverability=False).normalized
    except EmailNotValidError as err:
        raise DeliveryError(
            f"malformed address {out.delivery.to!r}: {err}", retryable=False
        ) from None
    message = EmailMessage()
    message["From"] = channel.sender
    message["To"] = to
    message["Subject"] = out.rendered.subject
    message["Date"] = format_datetime(out.sent_at)
    message["Message-ID"] = message_id(out.delivery.key)
    message["Idempotency-Key"] = out.delivery.key
    message["Content-Language"] = out.notification.language.value
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(out.rendered.text)
    return message


def message_id(key: str) -> str:
    """The e-mail ``Message-ID`` of a delivery: the same for every attempt."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@baton.notifications>"


# ----------------------------------------------------------------- webhooks
async def send_http(channel: HttpChannel, out: Outgoing, client: httpx.AsyncClient) -> None:
    """POST ``out`` in the channel's format (generic signed JSON, Slack or Teams)."""
    payload = {"webhook": webhook_payload, "slack": slack_payload, "teams": teams_payload}[
        channel.kind
    ](out)
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Idempotency-Key": out.delivery.key,
        "User-Agent": USER_AGENT,
    }
    if channel.kind == "webhook":
        headers |= signature_headers(channel.secret, out.delivery.key, out.sent_at, body)
    try:
        response = await client.post(
            channel.resolved_url, content=body.encode(), headers=headers, timeout=channel.timeout
        )
    except httpx.HTTPError as err:  # connect, read timeout, protocol
        raise DeliveryError(f"{type(err).__name__}: {err}", retryable=True) from None
    if response.is_success:
        return
    code = response.status_code
    retryable = code >= 500 or code in RETRYABLE_HTTP
    snippet = response.text[:200].strip()
    raise DeliveryError(f"HTTP {code}" + (f": {snippet}" if snippet else ""), retryable=retryable)


def signature_headers(secret: str, key: str, at: datetime, body: str) -> dict[str, str]:
    """Standard Webhooks headers for ``body``; no secret is an error for good."""
    if not secret:
        raise DeliveryError("webhook signing secret is not set", retryable=False)
    try:
        signature = Webhook(secret).sign(key, at, body)
    except Exception as err:  # a secret that is not base64
        raise DeliveryError(f"webhook signing secret is invalid: {err}", retryable=False) from None
    return {
        "webhook-id": key,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def webhook_payload(out: Outgoing) -> dict[str, Any]:
    """The generic webhook's JSON: the rendered text plus the structured case and event."""
    n = out.notification
    return {
        "id": out.delivery.key,
        "type": f"baton.{n.event}",
        "timestamp": out.sent_at.astimezone(UTC).isoformat(),
        "data": {
            "event": n.event,
            "case_id": n.case_id,
            "recipient": out.delivery.recipient,
            "recipient_kind": out.delivery.recipient_kind,
            "language": n.language.value,
            "subject": out.rendered.subject,
            "text": out.rendered.text,
            "case": n.case.model_dump(mode="json") if n.case else None,
            "context": n.context,
        },
    }


BUTTONS = {
    "en": {
        "accept": "Accept",
        "decline": "Decline",
        "approve": "Approve",
        "deny": "Deny…",
        "open": "Open in the desk",
    },
    "de": {
        "accept": "Annehmen",
        "decline": "Ablehnen",
        "approve": "Freigeben",
        "deny": "Ablehnen…",
        "open": "Im Arbeitsplatz öffnen",
    },
}
"""The labels of the buttons for a notification's links, by its language."""
SLACK_ACTIONS = frozenset({"accept", "decline"})
"""Link actions a Slack button performs in place: the desk checks the clicking member
against the agent's ``slack_user``. The others open their page (a supervisor's Slack
member is not in the directory, and a denial asks why)."""


def slack_payload(out: Outgoing) -> dict[str, Any]:
    """A Slack incoming-webhook message (mrkdwn section; ``text`` for notifications);
    an offer gets Accept and Decline buttons (handled by the desk's ``/slack/actions``,
    which checks Slack's signature); other links (open, approve, deny) are buttons
    that open their page in the desk."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": out.rendered.slack}}
    ]
    links = out.rendered.links
    if links:
        labels = BUTTONS.get(out.notification.language.value, BUTTONS["en"])
        buttons: list[dict[str, Any]] = []
        for action, url in links.items():
            button = {
                "type": "button",
                "action_id": f"baton_{action}",
                "text": {"type": "plain_text", "text": labels[action]},
            }
            if action in SLACK_ACTIONS:
                button["value"] = url.rsplit("/", 1)[1]  # the signed token
            else:
                button["url"] = url
            buttons.append(button)
        buttons.sort(key=lambda b: "url" in b)  # the acting buttons first
        buttons[0]["style"] = "primary"
        blocks.append({"type": "actions", "block_id": "baton_offer", "elements": buttons})
    return {"text": out.rendered.subject, "blocks": blocks}


def teams_payload(out: Outgoing) -> dict[str, Any]:
    """A Microsoft Teams incoming-webhook message carrying an Adaptive Card."""
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": out.rendered.subject, "weight": "Bolder", "wrap": True},
            {"type": "TextBlock", "text": out.rendered.teams, "wrap": True},
        ],
    }
    links = out.rendered.links
    if links:  # its signed links, opened in the browser
        labels = BUTTONS.get(out.notification.language.value, BUTTONS["en"])
        actions = [a for a in links if a != "open"] + ["open"]
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": labels[action], "url": links[action]}
            for action in actions
        ]
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }
