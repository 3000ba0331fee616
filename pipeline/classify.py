"""The classifier step: learn each theme from human-coded segments, and tag segments the rules miss.

One scikit-learn Pipeline (TF-IDF word and character n-grams of the text, plus the rule hits) feeds a
one-vs-rest logistic regression with balanced class weights. Each theme's decision threshold is chosen
on out-of-fold scores of a cross-validation grouped by transcript. Models are saved with skops, never
pickle, with a JSON model card beside them.
"""

from __future__ import annotations

import builtins
import hashlib
import importlib
import json
import warnings
import zipfile
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_recall_curve, precision_recall_fscore_support
from sklearn.model_selection import GroupKFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from spacy.language import Language
from threadpoolctl import threadpool_limits

from .codebook import Codebook
from .errors import ModelError, QualcodeError
from .files import atomic_write_bytes, atomic_write_text
from .records import Segment, Tag
from .rules import SPANS_KEY
from .table import END_CHAR, EVIDENCE, RULE_ID, SEGMENT_ID, START_CHAR, TEXT, THEME, TRANSCRIPT_ID, tags_frame

MODEL_FORMAT = "qualcode-classifier/1"
CLASSIFIER_METHOD = "classifier"
BOTH_METHOD = "rule+classifier"
COMBINE_MODES = ("rules", "classifier", "union")
Estimator = Literal["logistic", "svm"]
ESTIMATORS = ("logistic", "svm")
THRESHOLD_RULE = ("per theme, the out-of-fold score that maximises F1 (predict score >= threshold); "
                  "ties go to the higher threshold")
TRUSTED_MODULES = ("sklearn", "numpy", "scipy", "builtins")
REFUSED_TYPES = frozenset({"builtins.type", "builtins.object", "numpy.memmap"})  # classes that can do harm


def rule_column(theme: str) -> str:
    """Name of a theme's rule-hit feature column."""
    return f"rule_{theme}"


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
    ) -> None:
        self.pipeline_ = pipeline
        self.themes_ = list(themes)
        self.feature_themes_ = list(feature_themes)
        self.thresholds_ = {theme: float(thresholds[theme]) for theme in self.themes_}
        self.left_to_rules_ = list(left_to_rules)
        self.card = card
        self.source = source

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
        return pd.DataFrame(_positive_scores(self.pipeline_, features, len(self.themes_)), index=index,
                            columns=self.themes_)

    def predict(self, segments: pd.DataFrame, rules: pd.DataFrame) -> pd.DataFrame:
        """Bool per learned theme: score at or above the theme's threshold."""
        return self.decide(self.scores(segments, rules))

    def decide(self, scores: pd.DataFrame) -> pd.DataFrame:
        """Scores turned into decisions with the per-theme thresholds."""
        return scores.ge(pd.Series(self.thresholds_))[self.themes_]


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
    found = tags[tags[EVIDENCE].astype(bool) & tags[RULE_ID].fillna("").astype(str).ne("")
                 & tags[THEME].isin(list(themes)) & tags[SEGMENT_ID].isin(features.index)]
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


def make_pipeline(*, feature_themes: Sequence[str], estimator: Estimator = "logistic", random_state: int = 0,
                  calibration_folds: int = 3) -> Pipeline:
    """Unfitted Pipeline: TF-IDF word 1-2-grams and char_wb 2-5-grams of the text, rule hits passed through,
    then one-vs-rest logistic regression (or linear SVM calibrated by sigmoid), both with balanced class weights."""
    features = ColumnTransformer([
        ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), TEXT),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2), TEXT),
        ("rules", "passthrough", [rule_column(theme) for theme in feature_themes]),
    ])
    if estimator == "logistic":
        model: Any = LogisticRegression(class_weight="balanced", max_iter=2000, random_state=random_state)
    elif estimator == "svm":
        model = CalibratedClassifierCV(LinearSVC(class_weight="balanced", random_state=random_state),
                                       cv=calibration_folds)
    else:
        raise QualcodeError(f"unknown estimator {estimator!r} (choose {', '.join(ESTIMATORS)})")
    return Pipeline([("features", features), ("classifier", OneVsRestClassifier(model))])


def grouped_folds(groups: Sequence[str], *, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index arrays of a cross-validation grouped by transcript: no transcript is in both."""
    groups = np.asarray(groups)
    n_splits = min(folds, len(set(groups)))
    if n_splits < 2:
        raise ModelError("cross-validation needs coded segments from at least 2 transcripts")
    return list(GroupKFold(n_splits=n_splits).split(np.zeros(len(groups)), groups=groups))


def choose_threshold(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """The score that maximises F1 when predicting score >= threshold; ties go to the higher threshold."""
    labels = np.asarray(labels, dtype=bool)
    if not labels.any():
        raise ValueError("no positive labels to choose a threshold from")
    precision, recall, thresholds = precision_recall_curve(labels, np.asarray(scores, dtype=float))
    precision, recall = precision[:-1], recall[:-1]
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(denominator), where=denominator > 0)
    best = np.flatnonzero(np.isclose(f1, f1.max(), rtol=0.0, atol=1e-12))[-1]
    return float(thresholds[best])


def train_classifier(
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
    estimator: Estimator = "logistic",
) -> ThemeModel:
    """Fit the Pipeline on coded segments (+ the codebook's examples) and choose thresholds by grouped CV.

    `segments` needs segment_id, transcript_id and text; `labels` is `gold.segment_labels` for them;
    `rules` is `rule_features` for them. Themes with fewer than `min_positive` coded positives are left to rules.
    """
    missing = [c for c in (SEGMENT_ID, TRANSCRIPT_ID, TEXT) if c not in segments.columns]
    if missing:
        raise ModelError(f"segments lack column(s) {', '.join(missing)}")
    themes = codebook.theme_ids
    y_all = labels.reindex(index=segments[SEGMENT_ID].to_numpy(), columns=themes)
    if y_all.isna().any().any():
        raise ModelError("labels are missing for some segments or themes")
    y_all = y_all.astype(bool)
    positives = {theme: int(y_all[theme].sum()) for theme in themes}
    learned = [theme for theme in themes if positives[theme] >= min_positive]
    left = [theme for theme in themes if theme not in learned]
    if not learned:
        raise ModelError(f"no theme has {min_positive} or more coded segments (min_positive); nothing to learn")
    x_coded = feature_frame(segments, rules, themes=themes)
    y_coded = y_all[learned].to_numpy(dtype=int)
    groups = segments[TRANSCRIPT_ID].astype(str).to_numpy()
    examples = codebook_examples(codebook, nlp=nlp) if use_examples else _no_examples(themes)
    x_examples = feature_frame(examples, examples[themes], themes=themes)
    y_examples = np.column_stack([examples["positive_for"].eq(t).to_numpy(dtype=int) for t in learned])

    def fit(rows: np.ndarray) -> Pipeline:
        x = pd.concat([x_coded.iloc[rows], x_examples], ignore_index=True)
        y = np.vstack([y_coded[rows], y_examples])
        counts = y.sum(axis=0)
        fewest = int(min(counts[counts > 0], default=3))
        if estimator == "svm" and fewest < 2:
            raise ModelError("the calibrated SVM needs 2 positives per theme in every training fold; use logistic")
        pipeline = make_pipeline(feature_themes=themes, estimator=estimator, random_state=random_state,
                                 calibration_folds=min(3, fewest))
        # one BLAS thread: on small sparse problems more threads only contend (20x slower on a busy machine)
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            # a theme with no positive in a training fold gets a constant score, which is what we want
            warnings.filterwarnings("ignore", message=r"Label (not )?\S+ is present in all training examples")
            return pipeline.fit(x, y[:, 0] if len(learned) == 1 else y)

    folds = grouped_folds(groups, folds=cv_folds)
    out_of_fold = np.zeros(y_coded.shape, dtype=float)
    for train_rows, test_rows in folds:
        out_of_fold[test_rows] = _positive_scores(fit(train_rows), x_coded.iloc[test_rows], len(learned))
    thresholds, metrics = {}, {}
    for k, theme in enumerate(learned):
        thresholds[theme] = choose_threshold(out_of_fold[:, k], y_coded[:, k])
        precision, recall, f1, _ = precision_recall_fscore_support(
            y_coded[:, k], out_of_fold[:, k] >= thresholds[theme], average="binary", zero_division=0)
        metrics[theme] = {"precision": round(float(precision), 4), "recall": round(float(recall), 4),
                          "f1": round(float(f1), 4), "support": int(y_coded[:, k].sum()),
                          "threshold": round(thresholds[theme], 6)}
    pipeline = fit(np.arange(len(segments)))
    card = {
        "format": MODEL_FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "codebook": {"name": codebook.name, "version": codebook.version, "hash": codebook.hash},
        "training_data": {
            "hash": training_data_hash(segments, y_all, examples),
            "segments": int(len(segments)), "transcripts": int(len(set(groups))), "examples": int(len(examples)),
            "coded_positives": positives,
        },
        "estimator": estimator,
        "features": {"words": "tf-idf word 1-2-grams", "chars": "tf-idf char_wb 2-5-grams (min_df 2)",
                     "rules": "rule_<theme>: an evidence rule tag on the segment"},
        "random_state": random_state,
        "min_positive": min_positive,
        "use_examples": use_examples,
        "cv": {"folds": len(folds), "grouped_by": TRANSCRIPT_ID, "threshold_rule": THRESHOLD_RULE,
               "note": "metrics are out-of-fold at the chosen thresholds, which were chosen on the same scores "
                       "(slightly optimistic); `qualcode evaluate` measures with held-out thresholds"},
        "themes": learned,
        "thresholds": {theme: round(value, 6) for theme, value in thresholds.items()},
        "left_to_rules": left,
        "metrics": metrics,
        "versions": _package_versions(),
    }
    return ThemeModel(pipeline=pipeline, themes=learned, feature_themes=themes, thresholds=thresholds,
                      left_to_rules=left, card=card)


def codebook_examples(codebook: Codebook, *, nlp: Language | None = None) -> pd.DataFrame:
    """The codebook's examples as training rows: positives for their theme, near misses for none. The theme's
    definition and include note are positives too: a codebook written from definitions alone still teaches
    its vocabulary (measured: combined macro kappa +0.01 to +0.04 on four datasets, README).

    Columns: segment_id (example:<theme>:<kind>:<n>), text, positive_for ("" for a near miss), near_miss_of,
    and one bool column per theme with the example's rule hits.
    """
    rows = []
    for theme in codebook.themes:
        described = [text for text in (theme.definition, theme.include) if text.strip()]
        for kind, texts in (("definition", described), ("positive", theme.examples.positive),
                            ("near_miss", theme.examples.near_miss)):
            for n, text in enumerate(texts):
                rows.append({SEGMENT_ID: f"example:{theme.id}:{kind}:{n}", TEXT: text,
                             "positive_for": theme.id if kind != "near_miss" else "",
                             "near_miss_of": theme.id if kind == "near_miss" else ""})
    examples = pd.DataFrame(rows, columns=[SEGMENT_ID, TEXT, "positive_for", "near_miss_of"])
    if examples.empty:
        return _no_examples(codebook.theme_ids)
    if nlp is None:
        from .coding import build_nlp

        nlp = build_nlp(codebook)
    hits = text_rule_features(examples[TEXT].tolist(), nlp=nlp, themes=codebook.theme_ids)
    return pd.concat([examples, hits], axis=1)


def training_data_hash(segments: pd.DataFrame, labels: pd.DataFrame, examples: pd.DataFrame) -> str:
    """sha256 over the sorted training rows (segment id, text, labels): same data, same hash."""
    rows = [
        f"{sid}\t{text}\t{';'.join(t for t in labels.columns if flags[t])}"
        for sid, text, (_, flags) in zip(segments[SEGMENT_ID], segments[TEXT], labels.iterrows())
    ]
    rows += [
        f"{sid}\t{text}\t{positive or 'not:' + near_miss}"
        for sid, text, positive, near_miss in zip(examples[SEGMENT_ID], examples[TEXT], examples["positive_for"],
                                                  examples["near_miss_of"])
    ]
    return hashlib.sha256("\n".join(sorted(rows)).encode("utf-8")).hexdigest()


def combine(rules: pd.DataFrame, predicted: pd.DataFrame, *, mode: str,
            left_to_rules: Sequence[str]) -> pd.DataFrame:
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
    estimator: Estimator = "logistic",
) -> dict[str, Any]:
    """Macro F1 of each combine mode against the labels, by cross-validation grouped by transcript.

    Each outer fold trains a model (thresholds by inner grouped CV) without the test transcripts. The macro
    runs over themes with at least one coded segment; ties go to rules, then union, then classifier.
    """
    themes = codebook.theme_ids
    truth = labels.reindex(index=segments[SEGMENT_ID].to_numpy(), columns=themes).fillna(False).astype(bool)
    hits = rules.reindex(index=truth.index, columns=themes).fillna(False).astype(bool)
    decided = {mode: pd.DataFrame(False, index=truth.index, columns=themes) for mode in COMBINE_MODES}
    nlp = nlp if nlp is not None or not use_examples else _rule_nlp(codebook)
    folds = grouped_folds(segments[TRANSCRIPT_ID].astype(str).to_numpy(), folds=cv_folds)
    for train_rows, test_rows in folds:
        train, test = segments.iloc[train_rows], segments.iloc[test_rows]
        try:
            model = train_classifier(train, truth, codebook=codebook, rules=hits, nlp=nlp, use_examples=use_examples,
                                     random_state=random_state, min_positive=min_positive, cv_folds=cv_folds,
                                     estimator=estimator)
            predicted, left = model.predict(test, hits), model.left_to_rules_
        except ModelError:  # too few positives or transcripts in this fold: the classifier learns nothing
            predicted, left = pd.DataFrame(index=test[SEGMENT_ID]), themes
        for mode in COMBINE_MODES:
            decided[mode].loc[test[SEGMENT_ID].to_numpy()] = combine(
                hits.loc[test[SEGMENT_ID].to_numpy()], predicted, mode=mode, left_to_rules=left)[themes].to_numpy()
    scored = [theme for theme in themes if truth[theme].any()]
    per_theme = {
        mode: {theme: round(float(f1_score(truth[theme], decided[mode][theme], zero_division=0)), 4) for theme in scored}
        for mode in COMBINE_MODES
    }
    macro = {mode: round(float(np.mean(list(per_theme[mode].values()))) if scored else 0.0, 4)
             for mode in COMBINE_MODES}
    preference = ("rules", "union", "classifier")  # on a tie, keep every rule hit, and the rules alone if they suffice
    best = max(preference, key=lambda mode: (macro[mode], -preference.index(mode)))
    return {"best": best, "macro_f1": macro, "per_theme_f1": per_theme, "folds": len(folds),
            "themes_scored": scored, "grouped_by": TRANSCRIPT_ID}


def tag_segments(
    segments: Sequence[Segment],
    tags: Sequence[Tag],
    *,
    model: ThemeModel,
    codebook: Codebook,
    mode: str,
) -> list[Tag]:
    """Rule tags combined with the model's decisions: one tag per segment x theme.

    Respondent segments are scored. A theme both found gets method rule+classifier; one only the classifier
    found gets method classifier. Negated or hypothetical rule tags stay as they are and block a classifier
    tag on the same segment and theme; in classifier mode a learned theme's rule-only tag is dropped.
    """
    scored_segments = [s for s in segments if s.role != "interviewer"]
    if mode == "rules" or not scored_segments:
        return list(tags)
    frame = pd.DataFrame([s.as_dict() for s in scored_segments])
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
                result.append(Tag(segment=segment, theme=theme, method=CLASSIFIER_METHOD,
                                  codebook_version=codebook.version, codebook_hash=codebook.hash,
                                  score=float(scores.at[segment_id, theme]), model=model.label))
    order = {theme: n for n, theme in enumerate(codebook.theme_ids)}
    return sorted(result, key=lambda t: (t.segment.start_char, t.segment.end_char, order.get(t.theme, len(order))))


def uncertain_segments(segments: pd.DataFrame, scores: pd.DataFrame, thresholds: dict[str, float], *,
                       n: int) -> pd.DataFrame:
    """The `n` segments whose highest-scoring theme is closest to its threshold: the best ones to code next."""
    columns = [SEGMENT_ID, TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME, "score", "threshold", "distance", TEXT]
    if segments.empty or scores.empty:
        return pd.DataFrame(columns=columns)
    aligned = scores.reindex(segments[SEGMENT_ID].to_numpy())
    theme = aligned.idxmax(axis=1)
    score = aligned.max(axis=1)
    threshold = theme.map(thresholds)
    result = pd.DataFrame({
        SEGMENT_ID: segments[SEGMENT_ID].to_numpy(), TRANSCRIPT_ID: segments[TRANSCRIPT_ID].to_numpy(),
        START_CHAR: segments[START_CHAR].to_numpy(), END_CHAR: segments[END_CHAR].to_numpy(),
        THEME: theme.to_numpy(), "score": score.to_numpy().round(4), "threshold": threshold.to_numpy().round(4),
        "distance": (score - threshold).abs().to_numpy().round(4), TEXT: segments[TEXT].to_numpy(),
    })
    return result.sort_values(["distance", SEGMENT_ID], kind="stable").head(n).reset_index(drop=True)[columns]


def save_model(model: ThemeModel, path: str | Path) -> Path:
    """Write the model with skops (never pickle) and its card beside it as `<path>.card.json`."""
    path = Path(path)
    payload = {
        "format": MODEL_FORMAT, "pipeline": model.pipeline_, "themes": model.themes_,
        "feature_themes": model.feature_themes_, "thresholds": model.thresholds_,
        "left_to_rules": model.left_to_rules_, "card": model.card,
    }
    import skops.io as sio  # imported when needed: it imports all of scikit-learn (seconds)

    atomic_write_bytes(path, sio.dumps(payload, compression=zipfile.ZIP_DEFLATED))
    atomic_write_text(card_path(path), card_json(model.card))
    model.source = path.name
    return path


def load_model(path: str | Path, *, codebook: Codebook) -> ThemeModel:
    """Load a skops model after checking every type in it is a trusted class and it was made for this codebook."""
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise ModelError("model file not found (train one with `qualcode train`)", path=path)
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # skops raises assorted errors (zip, json, key) for files it cannot read
        raise ModelError(f"not a readable skops model file ({type(exc).__name__}: {exc})", path=path) from None
    refused = [name for name in untrusted if not trusted_type(name)]
    if refused:
        raise ModelError(f"refusing to load untrusted type(s): {', '.join(sorted(refused))}", path=path)
    try:
        payload = sio.load(path, trusted=untrusted)
    except Exception as exc:  # same: a damaged file fails in many ways, all meaning "cannot use it"
        raise ModelError(f"cannot load model ({type(exc).__name__}: {exc})", path=path) from None
    if not (isinstance(payload, dict) and payload.get("format") == MODEL_FORMAT
            and isinstance(payload.get("pipeline"), Pipeline)):
        raise ModelError(f"not a qualcode classifier ({MODEL_FORMAT})", path=path)
    card = payload["card"]
    trained_for = card.get("codebook", {})
    if trained_for.get("hash") != codebook.hash:
        raise ModelError(
            f"model was trained for codebook {trained_for.get('name')!r} version {trained_for.get('version')} "
            f"(hash {trained_for.get('hash')}), not {codebook.path or codebook.name} (hash {codebook.hash}); "
            "retrain with `qualcode train`", path=path)
    beside = card_path(path)
    if beside.is_file() and beside.read_text(encoding="utf-8") != card_json(card):
        raise ModelError(f"model card {beside.name} does not match the card saved in the model", path=path)
    return ThemeModel(pipeline=payload["pipeline"], themes=payload["themes"], feature_themes=payload["feature_themes"],
                      thresholds=payload["thresholds"], left_to_rules=payload["left_to_rules"], card=card,
                      source=path.name)


def trusted_type(name: str) -> bool:
    """A type named in a skops file may load only if it is a class of scikit-learn, NumPy, SciPy or builtins
    (functions such as builtins.eval or numpy.load are refused)."""
    if name.split(".", 1)[0] not in TRUSTED_MODULES:
        return False
    return name not in REFUSED_TYPES and isinstance(_resolve(name), type)


def _resolve(name: str) -> Any:
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            found: Any = builtins if parts[:cut] == ["builtins"] else importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute, None)
        return found
    return None


def _positive_scores(pipeline: Pipeline, features: pd.DataFrame, n_themes: int) -> np.ndarray:
    """Positive-class probabilities, one column per learned theme (one theme is fitted as a binary problem)."""
    with threadpool_limits(limits=1):
        proba = pipeline.predict_proba(features)
    return proba[:, [1]] if n_themes == 1 else proba


def _no_examples(themes: Iterable[str]) -> pd.DataFrame:
    columns = [SEGMENT_ID, TEXT, "positive_for", "near_miss_of", *themes]
    return pd.DataFrame({c: pd.Series(dtype=bool if c not in columns[:4] else object) for c in columns})


def _rule_nlp(codebook: Codebook) -> Language:
    from .coding import build_nlp

    return build_nlp(codebook)


def _package_versions() -> dict[str, str]:
    from .run import package_versions

    return package_versions()
