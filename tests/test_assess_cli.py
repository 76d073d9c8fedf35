"""``baton assess`` on transcripts, and ``baton detection eval|train`` on the shared data.

No Temporal server: the same detector and config as the worker, from the command line.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from baton.detection import load_risk_model, model_path, sentiment_scorers
from baton.evaluation import banking77, report, shared_data, tickets
from baton.settings import DEFAULT_CONFIG
from baton.training import train
from domain.detector import Detector
from domain.policy import EscalationPolicy

BATON = shutil.which("baton", path=str(Path(sys.executable).parent)) or "baton"


def _baton(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "BATON_"))}
    result = subprocess.run(
        [BATON, *args], input=stdin, capture_output=True, timeout=120, env=env | {"COLUMNS": "200"}
    )
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
    )


def _jsonl(*lines: object) -> bytes:
    return "\n".join(json.dumps(line, ensure_ascii=False) for line in lines).encode()


def test_assess_a_german_vip_transcript_from_stdin() -> None:
    transcript = _jsonl(
        {"customer": {"tier": "vip", "language": "de"}},
        {"author": "customer", "text": "Hallo, meine Rechnung stimmt nicht."},
        {"author": "ai", "text": "Das tut mir leid, ich prüfe das."},
        {"author": "customer", "text": "Sie haben 1.200,00 € doppelt abgebucht!"},
        {"author": "customer", "text": "Ich möchte einen Mitarbeiter sprechen"},
    )
    result = _baton("assess", "-", stdin=transcript)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 4  # one per message, none for the customer line
    assert set(lines[0]) == {"escalate", "level", "severity", "risk", "reasons"}
    first, ai, amount, human = lines
    assert [r["name"] for r in first["reasons"]] == ["vip_customer"]
    assert first["escalate"] is True and first["level"] == 2  # VIP is a level-2 reason
    assert ai["reasons"] == [] and ai["risk"] == first["risk"]
    [stake] = [r for r in amount["reasons"] if r["name"] == "high_amount"]
    assert "1.200,00 €" in stake["evidence"] and stake["threshold"] == 1000.0
    assert "explicit_human_request" in {r["name"] for r in human["reasons"]}
    assert all(0.0 <= line["risk"] <= 1.0 for line in lines)


def test_assess_reads_a_file_and_tracks_the_conversation(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    path.write_bytes(
        _jsonl(
            {"author": "customer", "text": "Where is my refund for order 1234?"},
            {"author": "ai", "text": "Let me check."},
            {"author": "customer", "text": "WHERE IS MY REFUND FOR ORDER 1234?!!!"},
        )
    )
    result = _baton("assess", str(path))
    assert result.returncode == 0, result.stderr
    first, _, last = (json.loads(line) for line in result.stdout.splitlines())
    assert first["escalate"] is False and first["level"] == 0
    names = {r["name"] for r in last["reasons"]}
    assert {"repetition", "emotional_intensity"} <= names
    assert last["escalate"] is True


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        (
            b'{"author": "customer", "text": "hi"}\n{"author": "customer", "text":',
            "line 2: not JSON",
        ),
        (b'{"author": "robot", "text": "hi"}', "line 1: invalid MessageLine"),
        (b'{"author": "customer", "text": ""}', "text"),
        (b'["not", "an", "object"]', "line 1: invalid MessageLine"),
        (b'{"author": "customer", "text": "hi", "amount": -5}', "amount"),
        (b'{"author": "customer", "text": "hi", "extra": 1}', "extra"),
        (b"\xff\xfe\x00garbage", "line 1: not UTF-8"),
        (_jsonl({"author": "customer", "text": "x" * 100_000}), "max_message_chars"),
    ],
)
def test_assess_names_the_bad_line_and_exits_2(stdin: bytes, message: str) -> None:
    result = _baton("assess", "-", stdin=stdin)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_assess_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = _baton("assess", str(tmp_path / "absent.jsonl"))
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_assess_without_a_risk_model_says_how_to_train_one(tmp_path: Path) -> None:
    config = tmp_path / "escalation.toml"
    config.write_text(DEFAULT_CONFIG.read_text())
    result = _baton("assess", "-", "--config", str(config), stdin=b"")
    assert result.returncode == 2 and "baton detection train" in result.stderr


def test_the_shipped_risk_model_is_reproducible_from_the_training_split(
    policy: EscalationPolicy,
) -> None:
    # Fails when detection config or code changed without `make train-risk`.
    shipped = load_risk_model(model_path(policy, DEFAULT_CONFIG))
    retrained = train(Detector(policy, sentiment_scorers()), [*tickets(), *banking77()])
    assert retrained.features == shipped.features
    assert retrained.version == shipped.version
    assert retrained.metrics == shipped.metrics


def test_evaluation_on_held_back_data_meets_the_targets(detector: Detector) -> None:
    figures = report(detector)
    bank = figures["banking77"]
    # Real traffic escalates in the band the thresholds are tuned for.
    assert 0.10 <= bank["escalation_rate_all"] <= 0.15
    assert bank["fraud_reason"]["precision"] >= 0.8
    tickets_ = figures["tickets"]
    for language in ("en", "de", "all"):
        block = tickets_[language]
        assert block["escalate"]["f1"] >= block["baseline_tfidf"]["f1"], (language, block)
    assert tickets_["split"]["held_back"] + tickets_["split"]["training"] == len(tickets())
    assert figures["cost"]["messages"] == len(tickets()) + len(banking77())


def test_eval_command_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    output = tmp_path / "eval.json"
    result = _baton("detection", "eval", "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert "TF-IDF baseline" in result.stdout and "escalation rate" in result.stdout
    figures = json.loads(output.read_text())
    assert set(figures["tickets"]) == {"en", "de", "all", "split"}


def test_missing_shared_data_is_a_clear_error(tmp_path: Path) -> None:
    env_data = os.environ.get("BATON_SHARED_DATA")
    os.environ["BATON_SHARED_DATA"] = str(tmp_path)
    try:
        with pytest.raises(Exception, match="not found"):
            tickets()
        assert shared_data() == tmp_path
    finally:
        if env_data is None:
            del os.environ["BATON_SHARED_DATA"]
        else:
            os.environ["BATON_SHARED_DATA"] = env_data
