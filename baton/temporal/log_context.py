"""Every log line of an activity names its case: the worker's interceptor binds the
workflow id, case id, activity, attempt, and the case's state and level (from the header
the workflow side adds, ``workflows/log_context.py``) into structlog's context."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import structlog
from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from workflows.log_context import HEADER, CaseContextInbound


class CaseLogContext(Interceptor):
    """The worker interceptor: headers out of workflows, log context into activities."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Bind the case's context around each activity execution."""
        return _BindCaseContext(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        """Add the context header to every activity a workflow starts."""
        return CaseContextInbound


class _BindCaseContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        context: dict[str, Any] = {
            "workflow_id": info.workflow_id,
            "case_id": (info.workflow_id or "").removeprefix("case-"),
            "activity": info.activity_type,
            "attempt": info.attempt,
        }
        header = input.headers.get(HEADER)
        if header is not None:
            # A malformed header never fails the activity: it only loses the context.
            with contextlib.suppress(ValueError, AttributeError):
                fields = json.loads(header.data).items()
                context |= {k: v for k, v in fields if k in ("state", "escalation_level")}
        with structlog.contextvars.bound_contextvars(**context):
            return await super().execute_activity(input)
