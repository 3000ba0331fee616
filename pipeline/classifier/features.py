"""Features for the classifier: segment text, its context in the interview and rule hits, as a scikit-learn
Pipeline; and the plain TF-IDF + logistic regression baseline it is measured against."""

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
    ROLE,
    RULE_ID,
    SEGMENT_ID,
    START_CHAR,
    TEXT,
    THEME,
    TRANSCRIPT_ID,
)
from pipeline.core.choices import Estimator
from pipeline.core.errors import QualcodeError

TURN_INDEX = "turn_index"
PROMPT = "context_prompt"  # the interviewer's last turn before the segment: the question it answers
NEARBY = "context_nearby"  # the segments just before and after it in the same turn
TURN = "context_turn"  # the whole turn the segment is in: coders code whole answers, not sentences
CONTEXT_COLUMNS = (PROMPT, NEARBY, TURN)
# Weight of each context block beside the segment's own text (1.0): the segment stays what is classified.
CONTEXT_WEIGHTS = {PROMPT: 0.5, NEARBY: 0.5, TURN: 0.5}


def segment_context(segments: pd.DataFrame) -> pd.DataFrame:
    """The segments (every role, as coded) with three context columns: the interviewer's last turn before each
    segment, the neighbouring segments of its turn, and its whole turn. Call it before interviewer segments are
    dropped, or the prompts are lost; a frame without turn_index or role gets empty context."""
    result = segments.copy()
    for column in CONTEXT_COLUMNS:
        result[column] = ""
    if result.empty or TURN_INDEX not in result.columns or ROLE not in result.columns:
        return result
    order = result.sort_values([TRANSCRIPT_ID, START_CHAR], kind="stable").index
    prompt, nearby, turn = {}, {}, {}
    for _, rows in result.loc[order].groupby(TRANSCRIPT_ID, sort=False):
        last_question = ""
        for _, turn_rows in rows.groupby(TURN_INDEX, sort=True):
            texts = turn_rows[TEXT].astype(str).tolist()
            whole = " ".join(texts)
            for n, label in enumerate(turn_rows.index):
                prompt[label] = last_question
                nearby[label] = " ".join(texts[max(n - 1, 0) : n] + texts[n + 1 : n + 2])
                turn[label] = whole
            if (turn_rows[ROLE] == "interviewer").any():
                last_question = whole
    result[PROMPT] = pd.Series(prompt)
    result[NEARBY] = pd.Series(nearby)
    result[TURN] = pd.Series(turn)
    return result


def rule_column(theme: str) -> str:
    """Name of a theme's rule-hit feature column."""
    return f"rule_{theme}"


def feature_frame(segments: pd.DataFrame, rules: pd.DataFrame, *, themes: Sequence[str]) -> pd.DataFrame:
    """The Pipeline's input: `text`, the context columns (empty where the segments have none) and one 0/1
    `rule_<theme>` column per theme."""
    ids = segments[SEGMENT_ID].to_numpy()
    hits = rules.reindex(index=ids, columns=list(themes)).fillna(False).astype(bool)
    columns: dict[str, Any] = {TEXT: segments[TEXT].astype(str).to_numpy()}
    for column in CONTEXT_COLUMNS:
        columns[column] = segments[column].fillna("").astype(str).to_numpy() if column in segments else ""
    columns.update({rule_column(theme): hits[theme].to_numpy(dtype=float) for theme in themes})
    return pd.DataFrame(columns, index=pd.RangeIndex(len(ids)))


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


def informative_context(frame: pd.DataFrame) -> list[str]:
    """The context columns that add something to the text: some segment has context that is not its own text
    (whole-answer segments have no neighbours, and their turn is the text itself)."""
    text = frame[TEXT].astype(str)
    found = []
    for column in CONTEXT_COLUMNS:
        if column in frame:
            values = frame[column].fillna("").astype(str)
            if (values.str.strip().ne("") & values.ne(text)).any():
                found.append(column)
    return found


def make_pipeline(
    *,
    feature_themes: Sequence[str],
    estimator: Estimator = Estimator.LOGISTIC,
    random_state: int = 0,
    calibration_folds: int = 3,
    context: Sequence[str] = (),
) -> Pipeline:
    """Unfitted Pipeline: TF-IDF word 1-2-grams and char_wb 2-5-grams of the text, TF-IDF word 1-2-grams of each
    `context` column (weighted by CONTEXT_WEIGHTS), rule hits passed through, then one-vs-rest logistic
    regression (or linear SVM calibrated by sigmoid), both with balanced class weights."""
    blocks: list[tuple[str, Any, Any]] = [
        ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), TEXT),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2), TEXT),
    ]
    blocks += [(column, TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), column) for column in context]
    blocks.append(("rules", "passthrough", [rule_column(theme) for theme in feature_themes]))
    features = ColumnTransformer(blocks, transformer_weights={column: CONTEXT_WEIGHTS[column] for column in context})
    if estimator == "logistic":
        model: Any = LogisticRegression(class_weight="balanced", max_iter=2000, random_state=random_state)
    elif estimator == "svm":
        model = CalibratedClassifierCV(
            LinearSVC(class_weight="balanced", random_state=random_state), cv=calibration_folds
        )
    else:
        raise QualcodeError(f"unknown estimator {estimator!r} (choose {', '.join(Estimator)})")
    return Pipeline([("features", features), ("classifier", OneVsRestClassifier(model))])


def baseline_pipeline(*, random_state: int = 0) -> Pipeline:
    """The plain supervised baseline qualcode must beat: TF-IDF of word 1-2-grams and char 3-5-grams of the
    segment text, one-vs-rest logistic regression with balanced class weights, decided at probability 0.5.
    No rules, no context, no codebook, no tuned thresholds."""
    features = ColumnTransformer(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), TEXT),
            ("chars", TfidfVectorizer(analyzer="char", ngram_range=(3, 5), sublinear_tf=True), TEXT),
        ]
    )
    model = LogisticRegression(class_weight="balanced", max_iter=2000, random_state=random_state)
    return Pipeline([("features", features), ("classifier", OneVsRestClassifier(model))])


def rule_nlp(codebook: Codebook) -> Language:
    from pipeline.coding.corpus import build_nlp

    return build_nlp(codebook)
