"""``baton agents``: the directory edited at run time, with clear errors."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

BATON = shutil.which("baton", path=str(Path(sys.executable).parent)) or "baton"


def _baton(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "BATON_"))}
    env |= {"BATON_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    return subprocess.run(
        [BATON, *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def _agents(data_dir: Path) -> dict[str, dict[str, object]]:
    result = _baton(data_dir, "agents", "--json")
    assert result.returncode == 0, result.stderr
    return {a["id"]: a for a in json.loads(result.stdout)}


def test_list_edit_and_remove_agents(tmp_path: Path) -> None:
    agents = _agents(tmp_path)
    assert len(agents) == 19 and agents["anna"]["presence"] == "available"
    assert "Anna Schmidt" in _baton(tmp_path, "agents").stdout

    assert _baton(tmp_path, "agents", "presence", "anna", "away").returncode == 0
    added = _baton(
        tmp_path, "agents", "add", "zoe", "--name", "Zoe Roth", "--team", "billing-frontline",
        "--language", "de", "--language", "en", "--skill", "billing=3", "--max-cases", "2",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    agents = _agents(tmp_path)
    assert agents["anna"]["presence"] == "away"  # kept in the store across commands
    assert agents["zoe"]["skills"] == {"billing": 3} and agents["zoe"]["max_cases"] == 2

    presence = _baton(tmp_path, "agents", "presence", "zoe", "busy", "--json")
    assert presence.returncode == 0 and json.loads(presence.stdout)["presence"] == "busy"
    removed = _baton(tmp_path, "agents", "remove", "zoe", "--json")
    assert removed.returncode == 0 and json.loads(removed.stdout) == {"removed": "zoe"}
    assert "zoe" not in _agents(tmp_path)


def test_bad_edits_are_refused_and_change_nothing(tmp_path: Path) -> None:
    before = _agents(tmp_path)
    ghost = _baton(tmp_path, "agents", "presence", "ghost", "away")
    assert ghost.returncode == 1 and "agent 'ghost' does not exist" in ghost.stderr
    team = _baton(
        tmp_path, "agents", "add", "zed", "--name", "Z", "--team", "nope", "--language", "de"
    )
    assert team.returncode == 1 and "team 'nope' does not exist" in team.stderr
    skill = _baton(
        tmp_path, "agents", "add", "zed", "--name", "Z", "--team", "legal",
        "--language", "de", "--skill", "law",
    )  # fmt: skip
    assert skill.returncode == 1 and "name=proficiency" in skill.stderr
    capacity = _baton(
        tmp_path, "agents", "add", "zed", "--name", "Z", "--team", "legal",
        "--language", "de", "--max-cases", "0",
    )  # fmt: skip
    assert capacity.returncode == 2 and "max_cases" in capacity.stderr
    assert _agents(tmp_path) == before


def test_loading_a_bad_directory_file_names_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "directory.toml"
    bad.write_text('[[teams]]\nid = "x"\n')
    result = _baton(tmp_path / "data", "agents", "load", str(bad))
    assert result.returncode == 2 and "teams.0.path" in result.stderr
