"""The transition table: the state machine's single source of truth."""

import pytest

from domain.states import (
    TRANSITIONS,
    CaseState,
    IllegalTransition,
    Trigger,
    allows,
    next_state,
)


def test_closed_is_final() -> None:
    assert not [key for key in TRANSITIONS if key[0] is CaseState.CLOSED]


def test_every_state_is_reachable_from_ai_handling() -> None:
    reached = {CaseState.AI_HANDLING}
    frontier = [CaseState.AI_HANDLING]
    while frontier:
        state = frontier.pop()
        for (source, _), target in TRANSITIONS.items():
            if source is state and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(CaseState)


def test_ai_resolution_goes_straight_to_follow_up() -> None:
    assert next_state(CaseState.AI_HANDLING, Trigger.RESOLVED) is CaseState.FOLLOW_UP


def test_only_follow_up_closes_after_a_human() -> None:
    into_closed = {
        source for (source, _), target in TRANSITIONS.items() if target is CaseState.CLOSED
    }
    assert into_closed == {CaseState.AI_HANDLING, CaseState.FOLLOW_UP}


@pytest.mark.parametrize(
    ("state", "trigger"),
    [
        (CaseState.CLOSED, Trigger.RESOLVED),
        (CaseState.AI_HANDLING, Trigger.ACCEPTED),
        (CaseState.FOLLOW_UP, Trigger.ESCALATED),
        (CaseState.HUMAN_HANDLING, Trigger.OFFERED),
    ],
)
def test_illegal_transition_raises(state: CaseState, trigger: Trigger) -> None:
    assert not allows(state, trigger)
    with pytest.raises(IllegalTransition, match=trigger.value):
        next_state(state, trigger)
