"""Benchmark: how many messages the detector assesses per second on one core.

Pins itself to one CPU, then assesses every real message of the shared data
(``../shared/data``: support tickets and BANKING77 queries) as a new case's first
message, and measures the cost per message late in long conversations against early
in short ones: the detector looks at a bounded window of earlier turns, so once the
window is full the cost per message stays flat however long the conversation runs.

    .venv/bin/python bench/detection.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

from figures import save

from baton.detection import load_detector
from baton.evaluation import as_first_message, banking77, tickets
from baton.settings import DEFAULT_CONFIG
from domain.case import CaseFile
from domain.detector import Detector
from domain.models import CaseInput, IncomingMessage

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _throughput(detector: Detector, rounds: int) -> dict[str, float]:
    examples = [*tickets(), *banking77()]
    pairs = [as_first_message(e) for e in examples]
    rates = []
    for _ in range(rounds):
        start = time.process_time()
        for message, context in pairs:
            detector.assess(message, context)
        rates.append(len(pairs) / (time.process_time() - start))
    chars = statistics.fmean(len(e.text) for e in examples)
    return {
        "messages": len(pairs),
        "mean_chars": round(chars),
        "messages_per_s_one_core": round(statistics.median(rates)),
        "us_per_message": round(1e6 / statistics.median(rates), 1),
    }


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
