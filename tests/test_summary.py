"""The extractive summary for the human taking over, in English and German."""

from datetime import UTC, datetime

from domain.models import MessageRecord
from domain.summary import ExtractiveSummarizer

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _transcript(*turns: tuple[str, str]) -> list[MessageRecord]:
    return [
        MessageRecord(seq=i, message_id=f"m{i}", author=author, text=text, at=T0)
        for i, (author, text) in enumerate(turns, start=1)
    ]


def test_keeps_the_opening_request_and_the_sentences_with_the_reasons() -> None:
    messages = _transcript(
        ("customer", "Hello. My invoice for October is wrong."),
        ("ai", "I am sorry to hear that. Which amount do you see?"),
        ("customer", "Nice weather today. You charged me $1,200 twice!"),
        ("customer", "I will talk to my lawyer about this. Thanks anyway."),
    )
    summary = ExtractiveSummarizer(max_sentences=3).summarize(messages, ["lawyer", "invoice"])
    assert summary == (
        "My invoice for October is wrong. … You charged me $1,200 twice! … "
        "I will talk to my lawyer about this."
    )
    assert "weather" not in summary and "sorry" not in summary  # AI turns never count


def test_german_transcript() -> None:
    messages = _transcript(
        ("customer", "Guten Tag. Meine Zahlung wurde doppelt abgebucht."),
        ("customer", "Das ist Betrug, ich will mein Geld zurück!"),
    )
    summary = ExtractiveSummarizer(max_sentences=2).summarize(messages, ["betrug"])
    assert (
        summary
        == "Meine Zahlung wurde doppelt abgebucht. … Das ist Betrug, ich will mein Geld zurück!"
    )


def test_bounded_and_empty() -> None:
    long = _transcript(("customer", "word " * 500 + "."))
    assert len(ExtractiveSummarizer(max_chars=100).summarize(long, [])) == 100
    assert ExtractiveSummarizer().summarize(_transcript(("ai", "How can I help?")), []) == ""
    assert ExtractiveSummarizer().summarize(_transcript(("customer", "😡😡")), []) == ""
