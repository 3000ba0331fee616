"""Combine classifier and rule tags (rules, classifier, union) and measure which is best."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, precision_recall_fscore_support
from spacy.language import Language

from pipeline.classifier.features import rule_features, rule_nlp, segment_context
from pipeline.classifier.model import BOTH_METHOD, CLASSIFIER_METHOD, COMBINE_MODES, ThemeModel
from pipeline.classifier.precision import DEFAULT_MIN_PRECISION, RULES_AND_CLASSIFIER, measured_per_theme, passes
from pipeline.classifier.train import grouped_folds, train_classifier
from pipeline.codebook.model import Codebook
from pipeline.coding.records import Segment, Tag
from pipeline.coding.table import (
    END_CHAR,
    ROLE,
    SCORE,
    SEGMENT_ID,
    START_CHAR,
    TEXT,
    THEME,
    TRANSCRIPT_ID,
    tags_frame,
)
from pipeline.core.choices import Estimator
from pipeline.core.errors import ModelError, QualcodeError

MEASURED_SETS = (*COMBINE_MODES, RULES_AND_CLASSIFIER)


def combine(rules: pd.DataFrame, predicted: pd.DataFrame, *, mode: str, left_to_rules: Sequence[str]) -> pd.DataFrame:
    """Bool per theme from rule hits and classifier decisions: rules only, classifier only, or their union.

    Themes left to rules (or not learned at all) always take the rules' decision.
    """
    if mode not in COMBINE_MODES:
        raise QualcodeError(f"unknown combine mode {mode!r} (choose {', '.join(COMBINE_MODES)})")
    themes = list(dict.fromkeys([*rules.columns, *predicted.columns]))
    index = rules.index.union(predicted.index, sort=False)
    decided = rules.reindex(index=index, columns=themes).fillna(False).astype(bool)
    learned = [t for t in predicted.columns if t not in set(left_to_rules)]
    model = predicted.reindex(index=index, columns=learned).fillna(False).astype(bool)
    if mode == "classifier":
        decided[learned] = model
    elif mode == "union":
        decided[learned] = decided[learned] | model
    return decided


def resolve_combine(model: ThemeModel, combine: str) -> str:
    """The combine mode for a run with this model: "auto" is the card's measured `best_combine`, else union."""
    if combine == "auto":
        combine = str(model.card.get("best_combine") or "union")
    if combine not in COMBINE_MODES:
        raise QualcodeError(f"unknown combine mode {combine!r} (choose {', '.join(COMBINE_MODES)} or auto)")
    return combine


def measure_combine(
    segments: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    codebook: Codebook,
    rules: pd.DataFrame,
    nlp: Language | None = None,
    use_examples: bool = True,
    random_state: int = 0,
    min_positive: int = 5,
    cv_folds: int = 5,
    estimator: Estimator = Estimator.LOGISTIC,
    on_fold: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Macro F1 of each combine mode against the labels, by cross-validation grouped by transcript; and per theme
    the precision, recall and F1 of each mode and of the segments both rules and classifier found.

    Each outer fold trains a model (thresholds by inner grouped CV) without the test transcripts. The macro
    runs over themes with at least one coded segment; ties go to rules, then union, then classifier.
    """
    themes = codebook.theme_ids
    truth = labels.reindex(index=segments[SEGMENT_ID].to_numpy(), columns=themes).fillna(False).astype(bool)
    hits = rules.reindex(index=truth.index, columns=themes).fillna(False).astype(bool)
    decided = {mode: pd.DataFrame(False, index=truth.index, columns=themes) for mode in COMBINE_MODES}
    nlp = nlp if nlp is not None or not use_examples else rule_nlp(codebook)
    folds = grouped_folds(segments[TRANSCRIPT_ID].astype(str).to_numpy(), folds=cv_folds)
    for train_rows, test_rows in folds:
        train, test = segments.iloc[train_rows], segments.iloc[test_rows]
        try:
            model = train_classifier(
                train,
                truth,
                codebook=codebook,
                rules=hits,
                nlp=nlp,
                use_examples=use_examples,
                random_state=random_state,
                min_positive=min_positive,
                cv_folds=cv_folds,
                estimator=estimator,
            )
            predicted, left = model.predict(test, hits), model.left_to_rules_
        except ModelError:  # too few positives or transcripts in this fold: the classifier learns nothing
            predicted, left = pd.DataFrame(index=test[SEGMENT_ID]), themes
        for mode in COMBINE_MODES:
            decided[mode].loc[test[SEGMENT_ID].to_numpy()] = combine(
                hits.loc[test[SEGMENT_ID].to_numpy()], predicted, mode=mode, left_to_rules=left
            )[themes].to_numpy()
        if on_fold:
            on_fold()
    scored = [theme for theme in themes if truth[theme].any()]
    per_theme = {
        mode: {
            theme: round(float(f1_score(truth[theme], decided[mode][theme], zero_division=0)), 4) for theme in scored
        }
        for mode in COMBINE_MODES
    }
    macro = {
        mode: round(float(np.mean(list(per_theme[mode].values()))) if scored else 0.0, 4) for mode in COMBINE_MODES
    }
    preference = ("rules", "union", "classifier")  # on a tie, keep every rule hit, and the rules alone if they suffice
    best = max(preference, key=lambda mode: (macro[mode], -preference.index(mode)))
    decided[RULES_AND_CLASSIFIER] = decided["rules"] & decided["classifier"]
    measured = {name: _per_theme_scores(truth, decided[name], scored) for name in MEASURED_SETS}
    return {
        "best": best,
        "macro_f1": macro,
        "per_theme_f1": per_theme,
        "per_theme": measured,
        "macro": {name: _macro(measured[name]) for name in MEASURED_SETS},
        "folds": len(folds),
        "themes_scored": scored,
        "grouped_by": TRANSCRIPT_ID,
    }


def _per_theme_scores(truth: pd.DataFrame, decided: pd.DataFrame, themes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Out-of-fold precision, recall, F1, segments tagged and coded, per theme (precision 0 when nothing tagged)."""
    scores = {}
    for theme in themes:
        precision, recall, f1, _ = precision_recall_fscore_support(
            truth[theme], decided[theme], average="binary", zero_division=0
        )
        scores[theme] = {
            "precision": round(float(precision), 4),
            "recall": round(float(recall), 4),
            "f1": round(float(f1), 4),
            "tagged": int(decided[theme].sum()),
            "coded": int(truth[theme].sum()),
        }
    return scores


def _macro(per_theme: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Unweighted means over the scored themes (as the macro F1 that picks the combine mode)."""
    return {
        key: round(float(np.mean([s[key] for s in per_theme.values()])) if per_theme else 0.0, 4)
        for key in ("precision", "recall", "f1")
    }


def tag_segments(
    segments: Sequence[Segment],
    tags: Sequence[Tag],
    *,
    model: ThemeModel,
    codebook: Codebook,
    mode: str,
    min_precision: float = DEFAULT_MIN_PRECISION,
) -> list[Tag]:
    """Rule tags combined with the model's decisions: one tag per segment x theme.

    Respondent segments are scored. A theme both found gets method rule+classifier; one only the classifier
    found gets method classifier. Negated or hypothetical rule tags stay as they are and block a classifier
    tag on the same segment and theme; in classifier mode a learned theme's rule-only tag is dropped. A tag
    whose method measured a precision under `min_precision` for its theme is kept but marked not evidence
    (`precision.passes`).
    """
    measured = measured_per_theme(model.card)

    def barred(tag: Tag) -> Tag:
        if tag.counts_as_evidence and not passes(measured, tag.theme, tag.method, bar=min_precision):
            return replace(tag, below_precision_bar=True)
        return tag

    scored_segments = [s for s in segments if s.role != "interviewer"]
    if mode == "rules" or not scored_segments:
        return [barred(tag) for tag in tags]
    frame = segment_context(pd.DataFrame([s.as_dict() for s in segments]))
    frame = frame[frame[ROLE] != "interviewer"].reset_index(drop=True)
    hits = rule_features(frame, tags_frame(tags), themes=codebook.theme_ids)
    scores = model.scores(frame, hits)
    predicted = model.decide(scores)
    decided = combine(hits, predicted, mode=mode, left_to_rules=model.left_to_rules_)
    learned = [t for t in model.themes_ if t not in set(model.left_to_rules_)]
    by_id = {s.segment_id: s for s in scored_segments}
    result: list[Tag] = []
    occupied: set[tuple[str, str]] = set()
    for tag in tags:
        key = (tag.segment.segment_id, tag.theme)
        occupied.add(key)
        if tag.segment.segment_id not in by_id or not tag.counts_as_evidence or tag.theme not in learned:
            result.append(tag)
        elif decided.at[key[0], tag.theme]:
            score = float(scores.at[key[0], tag.theme])
            method = BOTH_METHOD if predicted.at[key[0], tag.theme] else tag.method
            result.append(replace(tag, method=method, score=score, model=model.label))
    for segment_id, segment in by_id.items():
        for theme in learned:
            if (segment_id, theme) not in occupied and decided.at[segment_id, theme]:
                result.append(
                    Tag(
                        segment=segment,
                        theme=theme,
                        method=CLASSIFIER_METHOD,
                        codebook_version=codebook.version,
                        codebook_hash=codebook.hash,
                        score=float(scores.at[segment_id, theme]),
                        model=model.label,
                    )
                )
    order = {theme: n for n, theme in enumerate(codebook.theme_ids)}
    result = [barred(tag) for tag in result]
    return sorted(result, key=lambda t: (t.segment.start_char, t.segment.end_char, order.get(t.theme, len(order))))


def uncertain_segments(
    segments: pd.DataFrame, scores: pd.DataFrame, thresholds: dict[str, float], *, n: int
) -> pd.DataFrame:
    """The `n` segments whose highest-scoring theme is closest to its threshold: the best ones to code next."""
    columns = [SEGMENT_ID, TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME, SCORE, "threshold", "distance", TEXT]
    if segments.empty or scores.empty:
        return pd.DataFrame(columns=columns)
    aligned = scores.reindex(segments[SEGMENT_ID].to_numpy())
    theme = aligned.idxmax(axis=1)
    score = aligned.max(axis=1)
    threshold = theme.map(thresholds)
    result = pd.DataFrame(
        {
            SEGMENT_ID: segments[SEGMENT_ID].to_numpy(),
            TRANSCRIPT_ID: segments[TRANSCRIPT_ID].to_numpy(),
            START_CHAR: segments[START_CHAR].to_numpy(),
            END_CHAR: segments[END_CHAR].to_numpy(),
            THEME: theme.to_numpy(),
            SCORE: score.to_numpy().round(4),
            "threshold": threshold.to_numpy().round(4),
            "distance": (score - threshold).abs().to_numpy().round(4),
            TEXT: segments[TEXT].to_numpy(),
        }
    )
    return result.sort_values(["distance", SEGMENT_ID], kind="stable").head(n).reset_index(drop=True)[columns]


@dataclass(frozen=True)
class ModelTagger:
    """The classifier as a coding step: revises a transcript's rule tags with the model (see `tag_segments`)."""

    model: ThemeModel
    codebook: Codebook
    mode: str = "union"
    min_precision: float = DEFAULT_MIN_PRECISION

    def __call__(self, segments: Sequence[Segment], tags: list[Tag]) -> list[Tag]:
        return tag_segments(
            segments, tags, model=self.model, codebook=self.codebook, mode=self.mode, min_precision=self.min_precision
        )
