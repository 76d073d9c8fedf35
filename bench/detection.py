"""Benchmark: how many messages the detector assesses per second on one core.

Pins itself to one CPU, then assesses real messages of the shared data
(``../shared/data``: every data set's held-back split) as a new case's first message,
with and without the learned stage (the sentence encoder and the trigger heads), and
prints p50 and p99 per message; then ``baton assess --batch``'s rate in conversations
per minute; then the cost per message late in long conversations against early in
short ones: the detector looks at a bounded window of earlier turns, so once the
window is full the cost per message stays flat however long the conversation runs.

    .venv/bin/python bench/detection.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime, timedelta

from figures import save

from baton.detection.datasets import Example, load_all
from baton.detection.evaluation import cost
from baton.detection.loading import for_batches, load_detector
from baton.detection.transcript import assess_batch
from baton.settings import DEFAULT_CONFIG
from domain.case import CaseFile
from domain.detector import Detector
from domain.models import CaseInput, IncomingMessage

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _sample(every: int) -> list[Example]:
    held = [e for rows in load_all().values() for e in rows if e.held_back]
    return held[::every]


def _throughput(detector: Detector, rounds: int) -> dict[str, float]:
    with_learned = cost(detector, _sample(10))
    without = cost(detector.with_learned(None), _sample(1), repeat=rounds)
    return {
        "messages_with_learned": with_learned["messages"],
        "p50_ms_with_learned": with_learned["p50_ms"],
        "p99_ms_with_learned": with_learned["p99_ms"],
        "messages_per_s_one_core_with_learned": with_learned["messages_per_second"],
        "p99_ms_without_learned": without["p99_ms"],
        "messages_per_s_one_core": without["messages_per_second"],
        "us_per_message": round(without["mean_ms"] * 1000, 1),
    }


def _batch_per_minute(detector: Detector) -> float:
    """Conversations of three customer turns a minute through ``assess --batch``."""
    texts = [e.text for e in _sample(20)]
    lines = [
        json.dumps(
            {
                "id": f"c{i}",
                "messages": [
                    {
                        "author": "customer" if k % 2 == 0 else "ai",
                        "text": texts[(i + k) % len(texts)],
                    }
                    for k in range(5)
                ],
            }
        )
        for i in range(300)
    ]
    batch, prime = for_batches(detector)
    assert prime is not None, "the shipped policy names a trigger model"
    start = time.perf_counter()
    results = list(assess_batch(batch, lines, prime))
    assert len(results) == len(lines) and not any("error" in r for r in results)
    return round(len(lines) / (time.perf_counter() - start) * 60)


def _late_in_conversation(detector: Detector, turns: int, repeat: int = 2000) -> float:
    """CPU µs per customer message after ``turns`` earlier messages in one case."""
    case = CaseInput.model_validate(
        {
            "case_id": "BENCH-1",
            "customer": {"id": "c", "tier": "standard", "language": "en"},
            "channel": "chat",
            "subject": "bench",
        }
    )
    file = CaseFile.open(case, detector.policy, T0)
    for i in range(turns):
        author = "customer" if i % 2 == 0 else "ai"
        text = f"Message {i}: my order {i % 97} has not arrived, where is it?"
        message = IncomingMessage(message_id=f"m{i}", author=author, text=text)
        file.record_message(message, [], T0 + timedelta(seconds=i))
    message = IncomingMessage(
        message_id="x", author="customer", text="Where is my order? It has not arrived yet."
    )
    now = T0 + timedelta(seconds=turns)
    start = time.process_time()
    for _ in range(repeat):
        detector.assess(message, file.detection_context(now))
    return (time.process_time() - start) / repeat * 1e6


def main(rounds: int) -> dict[str, object]:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    detector = load_detector(DEFAULT_CONFIG)
    figures: dict[str, object] = dict(_throughput(detector, rounds))
    figures["batch_conversations_per_minute_one_core"] = _batch_per_minute(detector)
    # The window's cost: the learned stage reads the message alone, so it is left out.
    detector = detector.with_learned(None)
    window = detector.policy.detection.sentiment.window
    figures["us_per_message_turn_3"] = round(_late_in_conversation(detector, 2), 1)
    # Turn 2 * window + 1: the window of earlier customer turns is full from here on.
    full = _late_in_conversation(detector, 2 * window)
    late = _late_in_conversation(detector, 2000)
    figures[f"us_per_message_turn_{2 * window + 1}"] = round(full, 1)
    figures["us_per_message_turn_2001"] = round(late, 1)
    figures["turn_2001_to_full_window_ratio"] = round(late / full, 2)
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    figures = main(parser.parse_args().rounds)
    save("detection", figures, detector_msgs_per_s="messages_per_s_one_core")
