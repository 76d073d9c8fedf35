"""Workflow side of the log context: every activity a case starts carries the case's
state and level in a header, so the activity's log lines can name them
(``baton/temporal/log_context.py`` binds them). Only states and levels travel, never texts."""

from __future__ import annotations

import json
from typing import Any

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.worker import (
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowOutboundInterceptor,
)

HEADER = "baton-case-context"


class CaseContextInbound(WorkflowInboundInterceptor):
    """Installs :class:`CaseContextOutbound`."""

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        """Wrap the outbound interceptor."""
        super().init(CaseContextOutbound(outbound))


class CaseContextOutbound(WorkflowOutboundInterceptor):
    """Adds the case's state and level to every activity's headers."""

    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        """Start the activity with the context header."""
        describe = getattr(workflow.instance(), "log_context", None)
        context = describe() if callable(describe) else {}
        if context:
            payload = Payload(
                metadata={"encoding": b"json/plain"}, data=json.dumps(context).encode()
            )
            input.headers = {**input.headers, HEADER: payload}
        return super().start_activity(input)
