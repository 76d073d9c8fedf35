"""The sentence encoder adapter: the real bundled model, its cut, its cache, its batches."""

from pathlib import Path

import numpy as np
import pytest

from baton.detection.embedding import ENCODER_NAME, CachedEncoder, E5Encoder, PrimedEncoder


@pytest.fixture(scope="module")
def encoder() -> E5Encoder:
    return E5Encoder(max_tokens=12)


def test_embeddings_are_unit_vectors_that_carry_meaning_across_languages(
    encoder: E5Encoder,
) -> None:
    human, mensch, parcel = (
        np.array(encoder.encode(t))
        for t in (
            "I want to talk to a person",
            "Ich will mit einem Menschen reden",
            "Where is my parcel?",
        )
    )
    assert human.shape == (384,) and np.linalg.norm(human) == pytest.approx(1.0, abs=1e-4)
    assert human @ mensch > human @ parcel  # the German request is nearer than the parcel
    assert encoder.version.startswith(ENCODER_NAME)


def test_only_the_head_of_a_long_message_is_read(encoder: E5Encoder) -> None:
    long = "My internet keeps dropping every evening and the router restarts itself. " * 50
    head = encoder.head(long)
    assert long.startswith(head) and 0 < len(head) < 100
    assert encoder._model.token_count(head, True) <= 12
    # What lies past the head does not change the embedding.
    assert encoder.encode(long) == encoder.encode(long + " Also I want a refund.")


def test_the_training_cache_keeps_vectors_not_text(encoder: E5Encoder, tmp_path: Path) -> None:
    texts = [f"customer question number {i}" for i in range(40)]
    first = CachedEncoder(encoder, tmp_path).encode_many(texts)
    [stored] = tmp_path.glob("embeddings-*.npz")
    assert b"customer question" not in stored.read_bytes()
    again = CachedEncoder(encoder, tmp_path)  # a new process reads the file
    assert np.array_equal(again.encode_many(texts[::-1]), first[::-1])
    assert again.encode(texts[3]) == pytest.approx(first[3].tolist())


def test_a_primed_batch_gives_what_one_by_one_gives(encoder: E5Encoder) -> None:
    texts = ["Meine Karte wurde gestohlen", "hello", "Where is my parcel?"]
    primed = PrimedEncoder(encoder)
    primed.prime(texts)
    assert [primed.encode(t) for t in texts] == [encoder.encode(t) for t in texts]
    assert primed.encode("not primed") == encoder.encode("not primed")
