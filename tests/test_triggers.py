"""The learned triggers' pure core: a head's score, its evidence, and a sound model file."""

import math

import pytest
from pydantic import ValidationError

from domain.language import Language
from domain.triggers import Prototype, TriggerHead, TriggerModel, model_version, words_of


def _head(reason: str = "fraud", **update: object) -> TriggerHead:
    fields: dict[str, object] = {
        "reason": reason,
        "weights": [4.0, 0.0, 0.0],
        "words": {"stolen": 1.5, "card": 0.4, "thanks": -2.0},
        "intercept": -2.0,
        "threshold": 0.6,
        "prototypes": [
            Prototype(reference="banking77#12", vector=[1.0, 0.0, 0.0]),
            Prototype(reference="clinc150#7", vector=[0.0, 1.0, 0.0]),
        ],
    }
    return TriggerHead.model_validate(fields | update)


def _model(*heads: TriggerHead) -> TriggerModel:
    heads = heads or (_head(),)
    return TriggerModel(
        version=model_version(heads, "enc", 28), encoder="enc", dimensions=3, max_tokens=28,
        heads=list(heads),
    )  # fmt: skip


def test_a_head_is_a_logistic_score_over_embedding_and_words() -> None:
    head = _head()
    assert head.probability([0.0, 1.0, 0.0], set()) == pytest.approx(1 / (1 + math.e**2))
    # The embedding along its weights, and each weighed word present, push it up.
    plain = head.probability([0.5, 0.0, 0.0], set())
    assert head.probability([0.5, 0.0, 0.0], {"stolen"}) > plain
    assert head.probability([0.5, 0.0, 0.0], {"thanks"}) < plain
    assert head.probability([1.0, 0.0, 0.0], set()) > plain


def test_a_firing_score_names_model_threshold_words_and_nearest_examples() -> None:
    [score] = _model().scores([1.0, 0.0, 0.0], "My CARD was stolen!", Language.EN)
    assert score.fired and score.threshold == 0.6
    assert score.score == pytest.approx(1 / (1 + math.exp(-(4.0 - 2.0 + 1.5 + 0.4))))
    assert score.evidence.startswith(f"model {_model().version}: 0.98 at or above 0.60")
    assert "words 'stolen' +1.50, 'card' +0.40" in score.evidence
    assert "nearest labelled banking77#12 (1.00), clinc150#7 (0.00)" in score.evidence
    assert "thanks" not in score.evidence  # only words that pushed it up


def test_a_quiet_score_carries_no_evidence_and_does_not_fire() -> None:
    [score] = _model().scores([0.0, 0.0, 1.0], "where is my parcel", Language.DE)
    assert not score.fired and score.evidence == ""


def test_a_head_decides_only_in_its_languages() -> None:
    model = _model(_head(), _head("negative_sentiment", languages=[Language.DE]))
    assert [s.reason for s in model.scores([1.0, 0, 0], "x", Language.EN)] == ["fraud"]
    assert len(model.scores([1.0, 0, 0], "x", Language.DE)) == 2
    assert model.applies(Language.DE) and _model(_head(languages=[Language.DE])).applies(
        Language.DE
    )
    assert not _model(_head(languages=[Language.DE])).applies(Language.EN)


def test_words_are_lower_case_and_unicode() -> None:
    assert words_of("Meine KARTE wurde gestohlen, ÄRGERLICH!") == {
        "meine", "karte", "wurde", "gestohlen", "ärgerlich",
    }  # fmt: skip


def test_the_version_follows_the_weights() -> None:
    assert model_version([_head()], "enc", 28) == model_version([_head()], "enc", 28)
    assert model_version([_head()], "enc", 28) != model_version([_head(intercept=-1.0)], "enc", 28)
    assert model_version([_head()], "enc", 28) != model_version([_head()], "enc", 32)
    # Figures measured at training are not part of what decides.
    assert model_version([_head()], "enc", 28) == model_version(
        [_head(metrics={"f1": 0.5})], "enc", 28
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"weights": [1.0, 2.0], "prototypes": []}, "2 weights for 3 dimensions"),
        ({"intercept": math.inf}, "finite"),
        ({"threshold": 1.0}, "threshold"),
        ({"prototypes": [Prototype(reference="x#1", vector=[1.0])]}, "wrong size"),
    ],
)
def test_an_unsound_head_is_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _model(_head(**change))


def test_one_head_per_reason_and_embeddings_of_the_right_size() -> None:
    with pytest.raises(ValidationError, match="one head per reason"):
        _model(_head(), _head())
    with pytest.raises(ValueError, match="4 dimensions, not 3"):
        _model().scores([0.0] * 4, "x", Language.EN)


def test_a_threshold_given_for_a_reason_replaces_the_trained_one() -> None:
    embedding = [0.5, 0.0, 0.0]  # 0.5 on the head: below its 0.6
    [trained] = _model().scores(embedding, "x", Language.EN)
    [moved] = _model().scores(embedding, "x", Language.EN, {"fraud": 0.4})
    assert not trained.fired and moved.fired and moved.threshold == 0.4
    assert "0.50 at or above 0.40" in moved.evidence
    [other] = _model().scores(embedding, "x", Language.EN, {"legal_threat": 0.1})
    assert not other.fired and other.threshold == 0.6
