"""The routing policy: skills, language, shifts across time zones, capacity, VIP, ties."""

from datetime import UTC, datetime

import pytest

from baton.settings import DEFAULT_DIRECTORY
from baton.store.directory import read_directory
from domain.directory import Directory, Presence
from domain.language import Language
from domain.models import Channel, IncomingMessage
from domain.policy import RoutingStrategy
from domain.routing import AgentLoad, RoutingRequest, route
from domain.states import Tier
from tests.conftest import detector_for
from tests.test_case_rules import open_case

# Monday 2026-11-23, 10:00 UTC = 11:00 Berlin = 05:00 New York.
MONDAY_MORNING = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
# Monday 21:30 UTC = 22:30 Berlin (closed) = 16:30 New York (open).
MONDAY_EVENING = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)
DOUBLE_CHARGE = "Sie haben 1.200,00 € doppelt abgebucht!"


@pytest.fixture(scope="module")
def directory() -> Directory:
    return read_directory(DEFAULT_DIRECTORY)


def request(case_id: str = "C-1", **fields: object) -> RoutingRequest:
    """A German chat case for the customer support frontline, Monday morning."""
    base: dict[str, object] = {
        "case_id": case_id,
        "path": "customer_support",
        "tier": Tier.FRONTLINE,
        "language": Language.DE,
        "channel": Channel.CHAT,
        "at": MONDAY_MORNING,
    }
    return RoutingRequest.model_validate(base | fields)


def pick(directory: Directory, loads=None, strategy=RoutingStrategy.LEAST_LOADED, **fields):
    return route(directory, loads or {}, request(**fields), strategy)


def test_least_loaded_with_ties_broken_by_proficiency_then_id(directory: Directory) -> None:
    decision = pick(directory)
    # anna, ben and clara are all idle; the case needs no skill: ties go by id.
    assert decision.agent_id == "anna" and decision.team_id == "support-frontline"
    assert decision.candidates == ["anna", "ben", "clara"]
    loaded = pick(directory, {"anna": AgentLoad(active_cases=1)})
    assert loaded.agent_id == "ben"
    # With a skill asked for, the more proficient of equally loaded agents wins.
    assert pick(directory, skills=["retention"]).agent_id == "clara"


def test_language_and_skills_filter(directory: Directory) -> None:
    english = pick(directory, language=Language.EN, skills=["complaints"])
    assert "ben" in english.passed_over and "speak en" in english.passed_over["ben"]
    assert english.agent_id == "anna"
    missing = pick(directory, skills=["enterprise"])
    assert missing.agent_id is None
    assert missing.passed_over["anna"] == "lacks skill enterprise"


def test_capacity_presence_and_earlier_offers(directory: Directory) -> None:
    loads = {"anna": AgentLoad(active_cases=4), "clara": AgentLoad(active_cases=3)}
    decision = pick(directory, loads, exclude=["ben"])
    assert decision.agent_id is None
    assert decision.passed_over == {
        "anna": "at capacity (4/4)",
        "ben": "already offered this case",
        "clara": "at capacity (3/3)",
    }
    away = directory.model_copy(
        update={
            "agents": [
                a.model_copy(update={"presence": Presence.AWAY}) if a.id == "anna" else a
                for a in directory.agents
            ]
        }
    )
    assert pick(away).passed_over["anna"] == "presence away"


def test_shifts_across_time_zones(directory: Directory) -> None:
    # Evening in Berlin: the German team is off shift, New York is working.
    english = pick(directory, language=Language.EN, at=MONDAY_EVENING)
    assert english.agent_id == "sam" and english.team_id == "support-frontline-us"
    assert english.passed_over["anna"] == "team off shift"
    # Nobody speaks German in New York: the case waits.
    assert pick(directory, at=MONDAY_EVENING).agent_id is None
    # In the morning New York sleeps and Berlin works.
    morning = pick(directory, language=Language.EN)
    assert morning.team_id == "support-frontline" and morning.passed_over["sam"] == "team off shift"


def test_vip_cases_go_to_the_vip_desk_first(directory: Directory) -> None:
    assert pick(directory, vip=True).agent_id == "valentina"
    full = pick(directory, {"valentina": AgentLoad(active_cases=2)}, vip=True)
    assert full.agent_id == "anna"  # the VIP desk is full: the regular team takes it
    assert full.passed_over["valentina"] == "at capacity (2/2)"
    # Standard customers never land on the VIP desk.
    assert "valentina" not in pick(directory).candidates


def test_strategies(directory: Directory) -> None:
    specialists = {"tier": Tier.SPECIALIST}
    # Best past performance on the path: alexander reopens fewer cases than dora.
    best = pick(directory, strategy=RoutingStrategy.BEST_PERFORMANCE, **specialists)
    assert best.agent_id == "alexander"
    # Longest idle: whoever's last case ended first (never had one counts as longest).
    loads = {
        "alexander": AgentLoad(idle_since=datetime(2026, 11, 23, 9, 0, tzinfo=UTC)),
        "dora": AgentLoad(idle_since=datetime(2026, 11, 23, 8, 0, tzinfo=UTC)),
    }
    idle = pick(directory, loads, strategy=RoutingStrategy.LONGEST_IDLE, **specialists)
    assert idle.agent_id == "dora"
    # Least loaded compares utilisation, not raw counts.
    loads = {"alexander": AgentLoad(active_cases=2), "dora": AgentLoad(active_cases=1)}
    assert pick(directory, loads, **specialists).agent_id == "dora"


def test_routing_is_repeatable(directory: Directory) -> None:
    first = pick(directory, language=Language.EN, vip=True)
    assert all(pick(directory, language=Language.EN, vip=True) == first for _ in range(5))


def test_directory_rejects_bad_references(directory: Directory) -> None:
    raw = directory.model_dump(mode="json")
    raw["agents"][0]["team"] = "nowhere"
    with pytest.raises(ValueError, match="team 'nowhere' is not among teams"):
        Directory.model_validate(raw)
    raw = directory.model_dump(mode="json")
    raw["agents"].append(raw["agents"][0])
    with pytest.raises(ValueError, match="agent ids must be unique: anna"):
        Directory.model_validate(raw)


def test_a_vip_s_case_goes_to_the_vip_desk_whatever_its_path(directory, policy) -> None:
    """A German VIP's double charge over 1,200 € is a billing case: the VIP desk takes it
    (it has the billing skill); a standard customer's goes to billing; a VIP's outage
    needs a skill the desk lacks, so IT's own frontline takes it."""
    file = open_case(policy, tier="vip", language="de")
    message = IncomingMessage(message_id="m1", author="customer", text=DOUBLE_CHARGE)
    verdict = detector_for(policy).assess(message, file.detection_context(MONDAY_MORNING))
    file.record_message(message, verdict.hits, MONDAY_MORNING)
    assert (file.view.path, file.view.tier) == ("billing", Tier.FRONTLINE)
    case_request = file.routing_request(MONDAY_MORNING)
    decision = route(directory, {}, case_request, RoutingStrategy.LEAST_LOADED)
    assert (decision.agent_id, decision.team_id) == ("valentina", "vip-desk")
    standard = pick(directory, path="billing", skills=["billing"])
    assert standard.team_id == "billing-frontline" and "valentina" not in standard.candidates
    outage = pick(directory, path="it_incident", skills=["outage"], vip=True)
    assert outage.team_id == "it-service-desk"
    assert outage.passed_over["valentina"] == "lacks skill outage"
