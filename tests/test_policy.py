"""The escalation policy file: validated at start, errors name the key."""

from pathlib import Path

import pytest

from baton.settings import DEFAULT_CONFIG, ConfigError, load_policy
from domain.language import Language
from domain.policy import SERVED_LANGUAGES, SHARED_POLICIES, EscalationPolicy, shared
from domain.states import Severity


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT_CONFIG.read_text()
    assert old in text, old
    path = tmp_path / "escalation.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_shipped_policy_is_valid_and_complete() -> None:
    policy = load_policy(DEFAULT_CONFIG)
    assert set(SERVED_LANGUAGES) == {lang.value for lang in Language}
    for table in (policy.timers.accept_timeout, policy.timers.resolution_sla):
        durations = [table.for_severity(s) for s in Severity]
        # More severe cases never wait longer.
        assert durations == sorted(durations, reverse=True)


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ('high = "PT5M"', 'high = "soon"', "timers.accept_timeout.high"),
        ("amount_threshold = 1000.0", "amount_threshold = -1", "detection.amount_threshold"),
        ("[limits]", "[limits]\ntypo_key = 1", "limits.typo_key"),
        ('path = "compliance"', 'path = "nowhere"', "nowhere"),
        ('follow_up_reminder = "P1D"', 'follow_up_reminder = "P5D"', "follow_up_reminder"),
        ("{tier} colleague", "{colleague} colleague", "customer_handoff"),
        ("[reasons.vip_customer]", "[reasons.vip]", "vip_customer"),
        ('level = 3\npath = "compliance"', 'level = 7\npath = "compliance"', "level"),
        ('email = "it_incident"', 'email = "it"', "detection.topic_paths.email"),
        ("negative = -0.75", "negative = 0.5", "detection.sentiment.negative"),
        ("similarity = 85.0", "similarity = 120", "detection.repetition.similarity"),
        ('elapsed = "PT45M"', 'elapsed = "PT0S"', "detection.long_conversation.elapsed"),
        ("threshold = 0.47", "threshold = 1.5", "detection.risk.threshold"),
        ("[detection.intensity]", "[detection.intensity]\nshouting = 1", "intensity.shouting"),
    ],
)
def test_bad_config_names_the_problem(tmp_path: Path, old: str, new: str, named: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_policy(_variant(tmp_path, old, new))
    assert named in str(raised.value)


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_policy(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("version = ")
    with pytest.raises(ConfigError, match=r"broken\.toml"):
        load_policy(broken)


def test_a_case_carries_the_policy_without_the_phrase_tables() -> None:
    policy = load_policy(DEFAULT_CONFIG)
    carried = policy.for_case()
    assert policy.detection.keywords and policy.detection.complexity.topics
    assert carried.detection.keywords == {} and carried.detection.complexity.topics == {}
    # Everything a case decides with stays, and the copy is a valid policy on the wire.
    assert carried.version == policy.version and carried.timers == policy.timers
    assert carried.reasons == policy.reasons and carried.paths == policy.paths
    assert carried.detection.sentiment == policy.detection.sentiment
    wire = carried.model_dump_json()
    assert type(policy).model_validate_json(wire) == carried
    assert len(wire) < 0.7 * len(policy.model_dump_json())


def _decoded(policy: EscalationPolicy, **changes: object) -> EscalationPolicy:
    """A copy of ``policy`` as a case decodes it from its history."""
    return EscalationPolicy.model_validate_json(policy.model_copy(update=changes).model_dump_json())


def test_cases_with_equal_policies_share_one_and_a_changed_policy_is_not_mixed_in() -> None:
    carried = load_policy(DEFAULT_CONFIG).for_case()
    first, second = _decoded(carried, version="shared-a"), _decoded(carried, version="shared-a")
    assert first is not second
    assert shared(first) is first and shared(second) is first
    # Edited without a new version: the case keeps its own copy, which later cases share.
    timers = carried.timers
    longer = timers.model_copy(update={"customer_inactivity": timers.customer_inactivity * 2})
    edited = _decoded(carried, version="shared-a", timers=longer)
    assert edited != first
    assert shared(edited) is edited and shared(_decoded(edited)) is edited
    assert shared(_decoded(carried, version="shared-a")) is not first


def test_only_the_newest_policies_are_kept_for_sharing() -> None:
    carried = load_policy(DEFAULT_CONFIG).for_case()
    oldest = shared(_decoded(carried, version="kept-0"))
    for n in range(1, SHARED_POLICIES + 1):
        shared(_decoded(carried, version=f"kept-{n}"))
    again = _decoded(carried, version="kept-0")
    assert shared(again) is again and again is not oldest  # dropped: no longer shared
