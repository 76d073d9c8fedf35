"""``CaseWorkflow``: one durable workflow per customer case.

``workflow`` holds the process (open, follow the deadlines, continue as new, close); its
parts are mixed in: ``messages``, ``commands`` (what people do), ``routing`` and
``side_effects`` (notifications, the record, search attributes), over ``base``.
"""

from workflows.case.workflow import CaseWorkflow, workflow_id_for

__all__ = ["CaseWorkflow", "workflow_id_for"]
