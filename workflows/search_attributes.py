"""The custom search attributes every case keeps current, for the Web UI and queries."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CASE_STATE = SearchAttributeKey.for_keyword("CaseState")
ESCALATION_LEVEL = SearchAttributeKey.for_int("EscalationLevel")
SEVERITY = SearchAttributeKey.for_keyword("Severity")
ASSIGNED_TEAM = SearchAttributeKey.for_keyword("AssignedTeam")
CUSTOMER_TIER = SearchAttributeKey.for_keyword("CustomerTier")
ESCALATION_REASONS = SearchAttributeKey.for_keyword_list("EscalationReasons")

SLA_BREACHES = SearchAttributeKey.for_int("SlaBreaches")

ALL = (
    CASE_STATE,
    ESCALATION_LEVEL,
    SEVERITY,
    ASSIGNED_TEAM,
    CUSTOMER_TIER,
    ESCALATION_REASONS,
    SLA_BREACHES,
)
"""Registered on the embedded server at start (``--search-attribute Name=Type``)."""
