"""Builds the detector from the policy: sentiment analysers and the trained risk model.

English sentiment is VADER (rules and lexicon shipped in ``vaderSentiment``); German
sentiment is the SentiWS lexicon (Leipzig University) as shipped inside ``gersent``,
scored with negation and boosters by :class:`domain.sentiment.LexiconScorer`. The risk
model is the JSON file the policy names, resolved beside the policy file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from baton.detection.embedding import E5Encoder, PrimedEncoder
from baton.settings import ConfigError, describe, load_policy
from domain.detector import Detector
from domain.language import Language
from domain.policy import EscalationPolicy
from domain.risk import RiskModel
from domain.sentiment import LexiconScorer, SentimentScorer
from domain.triggers import LearnedTriggers, TriggerModel

GERMAN_NEGATIONS = frozenset(
    {"nicht", "kein", "keine", "keinen", "keiner", "keinem", "keines", "nie", "niemals",
     "nichts", "niemand", "weder", "noch", "ohne"}
)  # fmt: skip
"""German negators: they flip the valence of the next three words ("nicht zufrieden")."""
GERMAN_BOOSTERS = frozenset(
    {"sehr", "total", "völlig", "absolut", "extrem", "echt", "wirklich", "äußerst",
     "komplett", "richtig", "besonders", "höchst", "so", "zu"}
)  # fmt: skip
"""German intensifiers: they strengthen the next word ("sehr enttäuscht")."""


class VaderScorer:
    """English compound sentiment from VADER."""

    def __init__(self) -> None:
        """Load VADER's lexicon from its package."""
        self._analyzer = SentimentIntensityAnalyzer()

    def compound(self, text: str) -> float:
        """VADER's compound score in -1..1."""
        return float(self._analyzer.polarity_scores(text)["compound"])


def sentiws_lexicon() -> dict[str, float]:
    """SentiWS (positive and negative, all inflected forms) as shipped by ``gersent``."""
    lexicon: dict[str, float] = {}
    base = resources.files("gersent") / "wordlists" / "de"
    for name in ("negative.json", "positive.json"):
        words = json.loads((base / name).read_text(encoding="utf-8"))
        lexicon.update({word: float(value) for word, value in words.items()})
    return lexicon


@cache
def sentiment_scorers() -> dict[Language, SentimentScorer]:
    """One analyser per served language, loaded once per process."""
    return {
        Language.EN: VaderScorer(),
        Language.DE: LexiconScorer(sentiws_lexicon(), GERMAN_NEGATIONS, GERMAN_BOOSTERS),
    }


def beside(policy_file: Path | str, name: str) -> Path:
    """A file the policy names: relative paths are beside the policy file."""
    path = Path(name)
    return path if path.is_absolute() else Path(policy_file).parent / path


def model_path(policy: EscalationPolicy, policy_file: Path | str) -> Path:
    """Where the policy's risk model lives."""
    return beside(policy_file, policy.detection.risk.model)


M = TypeVar("M", RiskModel, TriggerModel)


def _load_model(path: Path, kind: type[M], what: str) -> M:
    try:
        return kind.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: {what} not found (train it with `baton detection train`)"
        ) from None
    except OSError as err:
        raise ConfigError(f"{path}: {err}") from None
    except ValidationError as err:
        raise ConfigError(f"{path}: invalid {what}\n{describe(err)}") from None


def load_risk_model(path: Path) -> RiskModel:
    """Read and validate a risk model file; :class:`ConfigError` names what is wrong."""
    return _load_model(path, RiskModel, "risk model")


def load_trigger_model(path: Path) -> TriggerModel:
    """Read and validate a trigger model file; :class:`ConfigError` names what is wrong."""
    return _load_model(path, TriggerModel, "trigger model")


@cache
def _encoder(max_tokens: int) -> E5Encoder:
    return E5Encoder(max_tokens)


def load_learned(policy: EscalationPolicy, policy_file: Path | str) -> LearnedTriggers | None:
    """The policy's learned triggers with their encoder, or None where it names none."""
    if not policy.detection.learned.model:
        return None
    path = beside(policy_file, policy.detection.learned.model)
    model = load_trigger_model(path)
    try:
        return LearnedTriggers(model, _encoder(model.max_tokens))
    except ValueError as err:
        raise ConfigError(f"{path}: {err}") from None


def for_batches(detector: Detector) -> tuple[Detector, Callable[[list[str]], None] | None]:
    """``detector`` with an encoder that embeds each batch's texts in one go, and the
    call that hands it a batch (None where nothing is embedded)."""
    if detector.learned is None or not isinstance(detector.learned.encoder, E5Encoder):
        return detector, None
    primed = PrimedEncoder(detector.learned.encoder)
    return detector.with_learned(LearnedTriggers(detector.learned.model, primed)), primed.prime


def load_detector(policy_file: Path | str, policy: EscalationPolicy | None = None) -> Detector:
    """The detector for the policy in ``policy_file`` with its risk and trigger models."""
    policy = policy or load_policy(policy_file)
    model = load_risk_model(model_path(policy, policy_file))
    return Detector(policy, sentiment_scorers(), model, load_learned(policy, policy_file))
