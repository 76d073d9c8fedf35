"""``baton demo`` against the real dev server: every bundled conversation plays to its
end, through the states and timers it is there to show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from baton.cli.demo import load_scenarios
from domain.speed import compressed
from tests.test_cli import _baton


async def test_the_demo_plays_every_conversation_to_the_end(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = cli_env | {"BATON_DATA_DIR": str(tmp_path)}
    code, out, err = await _baton(env, "demo", "--speed", "120", "--json", timeout=240)
    assert code == 0, err
    results = {r["scenario"]: r for r in json.loads(out)}
    assert set(results) == {s.name for s in load_scenarios()}
    assert all(r["error"] is None for r in results.values()), results
    assert {r["state"] for r in results.values()} == {"CLOSED"}
    # The routine questions never reached a human; the others did, at their level.
    assert results["routine-en"]["level"] == 0 and results["routine-de"]["level"] == 0
    assert results["fraud-de"]["level"] == 3 and results["gdpr-de"]["level"] == 3
    assert results["innovation-en"]["level"] == 1  # the AI asked the experts
    assert results["nobody-accepts-de"]["tier"] == "specialist"  # went up a tier


def test_speed_divides_business_durations_only(policy: Any) -> None:
    fast = compressed(policy, 60)
    assert fast.timers.accept_timeout.high * 60 == policy.timers.accept_timeout.high
    assert fast.activities == policy.activities  # side-effect timeouts are not business time
    assert policy.timers.accept_timeout.high.total_seconds() == 300  # the original is untouched


async def test_the_live_display_and_bad_names(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = cli_env | {"BATON_DATA_DIR": str(tmp_path), "COLUMNS": "220"}
    code, out, err = await _baton(env, "demo", "--only", "routine-en", "--speed", "120")
    assert code == 0, err
    assert "baton demo" in out and "CLOSED" in out and "Routine question the AI solves" in out
    code, _, err = await _baton(env, "demo", "--only", "no-such-scenario")
    assert code == 2 and "no scenario named no-such-scenario" in err
