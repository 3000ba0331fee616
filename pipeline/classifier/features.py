"""Features for the classifier: segment text plus rule hits, as a scikit-learn Pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from spacy.language import Language

from pipeline.codebook.model import Codebook
from pipeline.coding.rules import SPANS_KEY
from pipeline.coding.table import (
    EVIDENCE,
    RULE_ID,
    SEGMENT_ID,
    TEXT,
    THEME,
)
from pipeline.core.choices import Estimator
from pipeline.core.errors import QualcodeError


def rule_column(theme: str) -> str:
    """Name of a theme's rule-hit feature column."""
    return f"rule_{theme}"


def feature_frame(segments: pd.DataFrame, rules: pd.DataFrame, *, themes: Sequence[str]) -> pd.DataFrame:
    """The Pipeline's input: `text` and one 0/1 `rule_<theme>` column per theme."""
    ids = segments[SEGMENT_ID].to_numpy()
    hits = rules.reindex(index=ids, columns=list(themes)).fillna(False).astype(bool)
    frame = pd.DataFrame({TEXT: segments[TEXT].astype(str).to_numpy()})
    for theme in themes:
        frame[rule_column(theme)] = hits[theme].to_numpy(dtype=float)
    return frame


def rule_features(segments: pd.DataFrame, tags: pd.DataFrame, *, themes: Sequence[str]) -> pd.DataFrame:
    """Bool per theme for each segment: an evidence rule tag (not negated, hypothetical or interviewer) exists."""
    features = pd.DataFrame(False, index=pd.Index(segments[SEGMENT_ID], name=SEGMENT_ID), columns=list(themes))
    if tags.empty:
        return features
    found = tags[
        tags[EVIDENCE].astype(bool)
        & tags[RULE_ID].fillna("").astype(str).ne("")
        & tags[THEME].isin(list(themes))
        & tags[SEGMENT_ID].isin(features.index)
    ]
    for theme, hits in found.groupby(THEME):
        features.loc[hits[SEGMENT_ID].unique(), theme] = True
    return features


def text_rule_features(texts: Sequence[str], *, nlp: Language, themes: Sequence[str]) -> pd.DataFrame:
    """Rule hits of free texts (the codebook's examples), by the same rule pipeline that codes transcripts."""
    rows = []
    for doc in nlp.pipe(texts):
        spans = doc.spans[SPANS_KEY] if SPANS_KEY in doc.spans else []
        found = {span.label_ for span in spans if not (span._.negated or span._.hypothetical)}
        rows.append([theme in found for theme in themes])
    return pd.DataFrame(rows, columns=list(themes), dtype=bool)


def make_pipeline(
    *,
    feature_themes: Sequence[str],
    estimator: Estimator = Estimator.LOGISTIC,
    random_state: int = 0,
    calibration_folds: int = 3,
) -> Pipeline:
    """Unfitted Pipeline: TF-IDF word 1-2-grams and char_wb 2-5-grams of the text, rule hits passed through,
    then one-vs-rest logistic regression (or linear SVM calibrated by sigmoid), both with balanced class weights."""
    features = ColumnTransformer(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), TEXT),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2), TEXT),
            ("rules", "passthrough", [rule_column(theme) for theme in feature_themes]),
        ]
    )
    if estimator == "logistic":
        model: Any = LogisticRegression(class_weight="balanced", max_iter=2000, random_state=random_state)
    elif estimator == "svm":
        model = CalibratedClassifierCV(
            LinearSVC(class_weight="balanced", random_state=random_state), cv=calibration_folds
        )
    else:
        raise QualcodeError(f"unknown estimator {estimator!r} (choose {', '.join(Estimator)})")
    return Pipeline([("features", features), ("classifier", OneVsRestClassifier(model))])


def rule_nlp(codebook: Codebook) -> Language:
    from pipeline.coding.corpus import build_nlp

    return build_nlp(codebook)
