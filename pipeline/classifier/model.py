"""The classifier step: learn each theme from human-coded segments, and tag segments the rules miss.

One scikit-learn Pipeline (TF-IDF word and character n-grams of the text, plus the rule hits) feeds a
one-vs-rest logistic regression with balanced class weights. Each theme's decision threshold is chosen
on out-of-fold scores of a cross-validation grouped by transcript. Models are saved with skops, never
pickle, with a JSON model card beside them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from pipeline.classifier.features import TURN_INDEX, feature_frame
from pipeline.coding.table import (
    SEGMENT_ID,
    TRANSCRIPT_ID,
)
from pipeline.core.choices import Combine

MODEL_FORMAT = "qualcode-classifier/1"
CLASSIFIER_METHOD = "classifier"
BOTH_METHOD = "rule+classifier"
COMBINE_MODES = tuple(mode.value for mode in Combine if mode is not Combine.AUTO)  # what "auto" chooses from
THRESHOLD_RULE = (
    "per theme, the out-of-fold score that maximises F1 (predict score >= threshold); ties go to the higher threshold"
)


def card_path(model_path: str | Path) -> Path:
    """The model card beside a model file: `<model file>.card.json`."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".card.json")


def card_json(card: dict[str, Any]) -> str:
    """The card as written beside the model (sorted keys, so its hash is stable)."""
    return json.dumps(card, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def card_hash(card: dict[str, Any]) -> str:
    """Short fingerprint of a model card, recorded with every classifier tag and run."""
    return hashlib.sha256(card_json(card).encode("utf-8")).hexdigest()[:16]


class ThemeModel:
    """A fitted Pipeline with its themes, per-theme thresholds, the themes left to rules, and its card."""

    def __init__(
        self,
        *,
        pipeline: Pipeline,
        themes: Sequence[str],
        feature_themes: Sequence[str],
        thresholds: dict[str, float],
        left_to_rules: Sequence[str],
        card: dict[str, Any],
        source: str = "",
        passage_weight: float = 0.0,
    ) -> None:
        self.pipeline_ = pipeline
        self.themes_ = list(themes)
        self.feature_themes_ = list(feature_themes)
        self.thresholds_ = {theme: float(thresholds[theme]) for theme in self.themes_}
        self.left_to_rules_ = list(left_to_rules)
        self.card = card
        self.source = source
        self.passage_weight_ = float(passage_weight)

    @property
    def card_hash(self) -> str:
        return card_hash(self.card)

    @property
    def label(self) -> str:
        """What classifier tags record in `model`: the model file's name and its card's hash."""
        return f"{self.source or 'unsaved'}@{self.card_hash}"

    def scores(self, segments: pd.DataFrame, rules: pd.DataFrame) -> pd.DataFrame:
        """Probability of each learned theme for each segment (index segment_id)."""
        index = pd.Index(segments[SEGMENT_ID], name=SEGMENT_ID)
        if segments.empty:
            return pd.DataFrame(np.zeros((0, len(self.themes_))), index=index, columns=self.themes_)
        features = feature_frame(segments, rules, themes=self.feature_themes_)
        scores = passage_scores(
            positive_scores(self.pipeline_, features, len(self.themes_)), segments, weight=self.passage_weight_
        )
        return pd.DataFrame(scores, index=index, columns=self.themes_)

    def predict(self, segments: pd.DataFrame, rules: pd.DataFrame) -> pd.DataFrame:
        """Bool per learned theme: score at or above the theme's threshold."""
        return self.decide(self.scores(segments, rules))

    def decide(self, scores: pd.DataFrame) -> pd.DataFrame:
        """Scores turned into decisions with the per-theme thresholds."""
        return scores.ge(pd.Series(self.thresholds_))[self.themes_]


def passage_scores(scores: np.ndarray, segments: pd.DataFrame, *, weight: float) -> np.ndarray:
    """Each segment's score blended with the mean score of its turn, `weight` of the way: coders code whole
    answers, so a sentence of an answer about a theme is likelier to be coded with it. Weight 0, or segments
    without turn_index, leave the scores as they are."""
    if weight <= 0 or TURN_INDEX not in segments.columns or not len(scores):
        return scores
    keys = [segments[TRANSCRIPT_ID].astype(str).to_numpy(), segments[TURN_INDEX].to_numpy()]
    turn_mean = pd.DataFrame(scores).groupby(keys).transform("mean").to_numpy()
    return (1.0 - weight) * scores + weight * turn_mean


def positive_scores(pipeline: Pipeline, features: pd.DataFrame, n_themes: int) -> np.ndarray:
    """Positive-class probabilities, one column per learned theme (one theme is fitted as a binary problem)."""
    with threadpool_limits(limits=1):
        proba = pipeline.predict_proba(features)
    return proba[:, [1]] if n_themes == 1 else proba
