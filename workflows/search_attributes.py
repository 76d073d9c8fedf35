"""The custom search attributes every case keeps current, for the Web UI and queries."""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

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


def at_start(customer_tier: str) -> TypedSearchAttributes:
    """What a new case's search attributes are before its first change: the client sets
    them with the start, so the case's first workflow task has none to upsert."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(CASE_STATE, "AI_HANDLING"),
        SearchAttributePair(ESCALATION_LEVEL, 0),
        SearchAttributePair(SEVERITY, "low"),
        SearchAttributePair(CUSTOMER_TIER, customer_tier),
        SearchAttributePair(SLA_BREACHES, 0),
    ]
    return TypedSearchAttributes(pairs)


def known(current: TypedSearchAttributes) -> dict[str, Any]:
    """The case's search attributes as the server has them (an unset one is absent)."""
    return {key.name: current.get(key) for key in ALL if current.get(key) is not None}
