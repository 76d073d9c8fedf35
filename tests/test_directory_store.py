"""The directory in the store: seeding, run-time edits, and load accounting that never
exceeds capacity or leaks, on SQLite and on the local PostgreSQL."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from baton.settings import DEFAULT_DIRECTORY, ConfigError
from baton.store.cases import CaseStore
from baton.store.directory import DirectoryError, DirectoryStore, read_directory
from domain.directory import Agent, Presence
from domain.policy import RoutingStrategy
from tests.test_routing import MONDAY_MORNING, request
from tests.test_store import postgres_store  # noqa: F401  (fixture)

DIRECTORY_FILE = DEFAULT_DIRECTORY
FRONTLINE_DE_CAPACITY = 4 + 4 + 3  # anna, ben, clara


@pytest.fixture(params=["sqlite", "postgresql"])
def directory_store(request: pytest.FixtureRequest, store: CaseStore) -> DirectoryStore:
    backing = store if request.param == "sqlite" else request.getfixturevalue("postgres_store")
    directory = DirectoryStore(backing.engine)
    assert directory.seed(read_directory(DIRECTORY_FILE))
    return directory


def _reserve(store: DirectoryStore, case_id: str, offer: int = 1) -> str | None:
    decision = store.reserve(request(case_id), offer, RoutingStrategy.LEAST_LOADED, True)
    return decision.agent_id


def test_an_empty_directory_says_so_rather_than_routing(store: CaseStore) -> None:
    empty = DirectoryStore(store.engine)
    with pytest.raises(DirectoryError, match=r"no teams.*config/directory\.toml"):
        _reserve(empty, "C-empty")
    assert empty.loads() == {}


def test_seed_keeps_run_time_edits(directory_store: DirectoryStore) -> None:
    directory_store.set_presence("anna", Presence.AWAY)
    assert not directory_store.seed(read_directory(DIRECTORY_FILE))
    directory = directory_store.directory()
    assert len(directory.agents) == 19
    assert next(a for a in directory.agents if a.id == "anna").presence is Presence.AWAY
    assert _reserve(directory_store, "C-away") == "ben"


def test_concurrent_routing_never_exceeds_capacity(directory_store: DirectoryStore) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        chosen = list(pool.map(lambda i: _reserve(directory_store, f"C-{i}"), range(30)))
    taken = [a for a in chosen if a is not None]
    assert len(taken) == FRONTLINE_DE_CAPACITY
    loads = directory_store.loads()
    assert (loads["anna"].active_cases, loads["ben"].active_cases) == (4, 4)
    assert loads["clara"].active_cases == 3
    for agent in ("anna", "ben", "clara"):
        assert len(directory_store.active_assignments(agent)) == loads[agent].active_cases


def test_a_retried_reservation_counts_once(directory_store: DirectoryStore) -> None:
    first = _reserve(directory_store, "C-retry", offer=1)
    again = _reserve(directory_store, "C-retry", offer=1)
    assert first == again == "anna"
    assert directory_store.loads()["anna"].active_cases == 1
    # The next offer of the same case is a new reservation.
    assert _reserve(directory_store, "C-retry", offer=2) == "ben"


def test_release_frees_the_slot_once_however_the_case_ends(
    directory_store: DirectoryStore,
) -> None:
    _reserve(directory_store, "C-a", offer=1)
    directory_store.accept("C-a", 1)
    assert directory_store.loads()["anna"].active_cases == 1
    assert directory_store.release("C-a") == 1
    assert directory_store.release("C-a") == 0  # idempotent: a retried activity
    load = directory_store.loads()["anna"]
    assert load.active_cases == 0 and load.idle_since is not None


def test_an_agent_holding_cases_cannot_be_removed(directory_store: DirectoryStore) -> None:
    _reserve(directory_store, "C-held")
    with pytest.raises(DirectoryError, match=r"anna.*holds active cases C-held"):
        directory_store.remove_agent("anna")
    directory = read_directory(DIRECTORY_FILE)
    without_anna = directory.model_copy(
        update={"agents": [a for a in directory.agents if a.id != "anna"]}
    )
    with pytest.raises(DirectoryError, match="anna hold active cases"):
        directory_store.replace(without_anna)
    assert any(a.id == "anna" for a in directory_store.directory().agents)  # nothing changed
    directory_store.release("C-held")
    directory_store.remove_agent("anna")
    assert all(a.id != "anna" for a in directory_store.directory().agents)


def test_replacing_the_directory_keeps_loads(directory_store: DirectoryStore) -> None:
    _reserve(directory_store, "C-keep")
    directory_store.replace(read_directory(DIRECTORY_FILE))
    assert directory_store.loads()["anna"].active_cases == 1


def test_adding_agents_checks_team_and_id(directory_store: DirectoryStore) -> None:
    new = Agent(id="zoe", name="Zoe", team="support-frontline", languages=["de"], max_cases=2)
    directory_store.add_agent(new)
    with pytest.raises(DirectoryError, match="already exists"):
        directory_store.add_agent(new)
    with pytest.raises(DirectoryError, match="team 'nowhere' does not exist"):
        directory_store.add_agent(new.model_copy(update={"id": "zed", "team": "nowhere"}))
    with pytest.raises(DirectoryError, match="does not exist"):
        directory_store.set_presence("ghost", Presence.OFFLINE)


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ('timezone = "America/New_York"', 'timezone = "Mars/Base"', "unknown time zone"),
        ('team = "legal"', 'team = "lawyers"', "team 'lawyers' is not among teams"),
        ("max_cases = 5\n", "max_cases = 0\n", "agents.7.max_cases"),
        ('tier = "specialist"', 'tier = "expert"', "teams.3.tier"),
        (
            '{ days = [5], start = "09:00", end = "14:00" }',
            '{ days = [0, 5], start = "09:00", end = "14:00" }',
            r"teams.0.calendar: .*overlap: Monday 08:00-20:00 and Monday 09:00-14:00",
        ),
    ],
)
def test_a_bad_directory_file_names_the_problem(
    tmp_path: Path, old: str, new: str, named: str
) -> None:
    text = DIRECTORY_FILE.read_text()
    assert old in text
    bad = tmp_path / "directory.toml"
    bad.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError, match=named):
        read_directory(bad)


def test_cases_nobody_can_take_wait_in_line(directory_store: DirectoryStore) -> None:
    for agent in ("anna", "ben", "clara"):
        directory_store.set_presence(agent, Presence.AWAY)
    positions = [
        directory_store.reserve(
            request(f"C-q{i}", at=MONDAY_MORNING + timedelta(seconds=i)),
            1,
            RoutingStrategy.LEAST_LOADED,
            True,
        ).queue_position
        for i in range(3)
    ]
    assert positions == [1, 2, 3]
    # Asking again keeps the place; the first in line leaves when routed or closed.
    again = directory_store.reserve(request("C-q1"), 2, RoutingStrategy.LEAST_LOADED, True)
    assert again.queue_position == 2
    directory_store.release("C-q0")
    assert directory_store.queue_length("customer_support", "frontline") == 2
    directory_store.set_presence("anna", Presence.AVAILABLE)
    assert _reserve(directory_store, "C-q1", offer=3) == "anna"
    assert directory_store.queue_length("customer_support", "frontline") == 1


def test_resolutions_make_the_performance_record_once_per_case(
    directory_store: DirectoryStore,
) -> None:
    directory_store.record_resolution("C-1", "dora", "customer_support", 30.0)
    directory_store.record_resolution("C-1", "dora", "customer_support", 30.0)  # a retry
    directory_store.record_resolution("C-2", "dora", "customer_support", 60.0)
    dora = next(a for a in directory_store.directory().agents if a.id == "dora")
    record = dora.performance["customer_support"]
    # 80 cases from the file are replaced by what the store has seen: 2, averaging 45.
    assert (record.cases, record.mean_resolution_minutes, record.reopen_rate) == (2, 45.0, 0.0)
    directory_store.record_reopen("C-1", "dora", "customer_support")
    directory_store.record_reopen("C-1", "dora", "customer_support")  # a retry
    dora = next(a for a in directory_store.directory().agents if a.id == "dora")
    assert dora.performance["customer_support"].reopen_rate == 0.5
