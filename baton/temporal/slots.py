"""How much one worker takes on at once (``worker.py``; ``BATON_*_SLOTS`` settings)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class WorkerSlots:
    """How much one worker takes on at once: workflow tasks, and activities of each kind
    with threads of their own.

    Workflow tasks share one interpreter: past a handful at once each only takes longer,
    and a task that passes the server's timeout (10 s) is retried and its case replayed,
    which costs more still. Beyond ``workflow_tasks`` they wait on the server instead
    (2,000 cases' timers on two cores: 100 at once, the SDK's default, timed out 1,666
    tasks and fired 546 timers over a minute late; 10 at once, none; docs/benchmarks.md).

    A local activity runs inside its case's workflow task, with a short start-to-close
    timeout that starts when the SDK hands it over. Queued behind busy threads it would
    time out unstarted, be retried, and the abandoned attempt would still take a thread.
    With a thread for every slot, local activities beyond ``local`` wait in the SDK's
    queue instead (bounded by the policy's ``local_schedule_to_start``, then the case
    falls back to a regular activity), and regular ones beyond ``regular`` on the server.

    The worker keeps up to ``cached_cases`` cases in memory; a case it no longer holds
    replays its history when its next task comes (tens of milliseconds in the sandbox).
    A task for a case it holds waits on the worker's own (sticky) queue for at most
    ``sticky_wait`` before the server hands it to any worker with the full history.
    """

    workflow_tasks: int = 10
    regular: int = 16
    local: int = 8
    cached_cases: int = 1000
    sticky_wait: timedelta = timedelta(seconds=10)

    @property
    def threads(self) -> int:
        """The threads the activity executor needs: one per activity slot."""
        return self.regular + self.local

    def executor(self) -> ThreadPoolExecutor:
        """A thread pool for these slots (the caller shuts it down after the worker)."""
        return ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="baton-activity")
