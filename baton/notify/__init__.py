"""Notification delivery: channels (SMTP, signed webhooks, Slack, Teams), templates, outbox."""
