"""Measure qualcode's coding against human coders by cross-validation grouped by transcript.

Each fold trains the classifier on the training transcripts only (its thresholds come from an inner
cross-validation on those transcripts) and predicts the held-out ones; no segment of a test transcript is
seen in training. The pooled held-out predictions of five methods are compared with the gold labels:
`rules` (the codebook's rules), `classifier`, `combined` (union of rules and classifier), and two baselines:
`keyword_baseline` (what NVivo, ATLAS.ti and MAXQDA auto-coding does: a plain case-insensitive text search) and
`tfidf_baseline` (a plain supervised classifier fitted on the same training transcripts: TF-IDF word 1-2-grams
and char 3-5-grams, balanced logistic regression; what anyone with scikit-learn would try first).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold
from spacy.lang.en.stop_words import STOP_WORDS
from spacy.language import Language
from threadpoolctl import threadpool_limits

from pipeline.classifier.combine import combine
from pipeline.classifier.features import baseline_pipeline, rule_features, segment_context
from pipeline.classifier.train import PASSAGE_WEIGHT, train_classifier
from pipeline.codebook.load import load_codebook
from pipeline.codebook.model import Codebook
from pipeline.coding.corpus import CodingOptions, build_nlp, code_corpus
from pipeline.coding.table import ROLE, SEGMENT_ID, TEXT, TRANSCRIPT_ID, segments_frame, tags_frame
from pipeline.core.choices import Unit
from pipeline.core.errors import ModelError, QualcodeError
from pipeline.core.files import atomic_write_text
from pipeline.ingest.read import problems, read_folder
from pipeline.measure.agreement import BootstrapOptions, Comparison, compare
from pipeline.measure.coder_files import CODER, check_spans_fit, load_gold, segment_labels, unknown_themes

METHODS = ("rules", "classifier", "combined", "keyword_baseline", "tfidf_baseline")
BASELINES = ("keyword_baseline", "tfidf_baseline")
METHOD_LABELS = {
    "rules": "rules only",
    "classifier": "classifier",
    "combined": "combined (union)",
    "keyword_baseline": "keyword search (QDA auto-code)",
    "tfidf_baseline": "TF-IDF + logistic regression",
}
MODE_OF_METHOD = {"rules": "rules", "classifier": "classifier", "combined": "union"}
HTML_TEMPLATE = "evaluation.v1.html.j2"


@dataclass(frozen=True)
class EvaluationOptions:
    """How the evaluation runs: folds, seed (splits, classifier, bootstrap), resamples, coders, segment unit."""

    folds: int = 5
    seed: int = 0
    resamples: int = 1000
    coders: tuple[str, ...] | None = None
    unit: Unit = Unit.SENTENCE
    min_positive: int = 5
    use_examples: bool = True
    use_context: bool = True
    passage_weight: float = PASSAGE_WEIGHT


@dataclass(frozen=True)
class Fold:
    """One split: transcripts trained on and tested on, and what the classifier learned in it."""

    number: int
    train: tuple[str, ...]
    test: tuple[str, ...]
    learned: tuple[str, ...] = ()
    left_to_rules: tuple[str, ...] = ()
    note: str = ""


@dataclass
class EvaluationData:
    """What is compared: the evaluated segments, their gold labels, rule hits and keyword-search hits."""

    segments: pd.DataFrame
    labels: pd.DataFrame
    rules: pd.DataFrame
    keywords: pd.DataFrame


@dataclass
class Evaluation:
    """Pooled held-out figures of each method against the gold, with the folds and a record of the inputs."""

    methods: dict[str, Comparison]
    folds: list[Fold]
    themes: list[str]
    theme_labels: dict[str, str]
    best_mode: str
    record: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """{"rules"|"classifier"|"combined"|"keyword_baseline"|"tfidf_baseline": {"macro", "micro", "per_theme"}}."""
        return {method: self.methods[method].to_json() for method in METHODS if method in self.methods}


# --- the keyword baseline -----------------------------------------------------------------------------


def keyword_terms(codebook: Codebook) -> dict[str, list[str]]:
    """Per theme, the search terms a QDA user would type: the label's words (stop words dropped) and each rule
    phrase; token-pattern rules cannot be typed into a text search and are left out."""
    terms: dict[str, list[str]] = {}
    for theme in codebook.themes:
        words = [
            w for w in re.findall(r"[a-z0-9][a-z0-9'’-]*", theme.label.lower()) if w not in STOP_WORDS and len(w) > 2
        ]
        phrases = [p.lower() for rule in theme.rules for p in rule.phrases]
        terms[theme.id] = list(dict.fromkeys([*words, *phrases]))
    return terms


def keyword_matches(segments: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Bool per theme: the segment contains one of the theme's terms as a plain case-insensitive substring
    (no lemmas, no word boundaries, no negation or context), as QDA tools' text-search auto-coding does."""
    texts = segments[TEXT].astype(str).str.lower()
    found = {
        theme: (
            texts.map(lambda text, terms=terms: any(term in text for term in terms))
            if terms
            else pd.Series(False, index=texts.index)
        )
        for theme, terms in keyword_terms(codebook).items()
    }
    return pd.DataFrame(
        {theme: hits.to_numpy(dtype=bool) for theme, hits in found.items()},
        index=pd.Index(segments[SEGMENT_ID], name=SEGMENT_ID),
    )


# --- the TF-IDF + logistic regression baseline ---------------------------------------------------------------


def tfidf_baseline_predictions(
    train: pd.DataFrame, train_labels: pd.DataFrame, test: pd.DataFrame, *, random_state: int = 0
) -> pd.DataFrame:
    """Bool per theme for the test segments from `baseline_pipeline` fitted on the training segments' text;
    a theme with no positive (or no negative) in training gets its one training value."""
    themes = list(train_labels.columns)
    result = pd.DataFrame(False, index=pd.Index(test[SEGMENT_ID], name=SEGMENT_ID), columns=themes)
    y = train_labels.to_numpy(dtype=int)
    varied = [k for k in range(len(themes)) if 0 < y[:, k].sum() < len(y)]
    for k in range(len(themes)):
        if k not in varied and len(y):
            result[themes[k]] = bool(y[0, k])
    if not varied or test.empty:
        return result
    texts = pd.DataFrame({TEXT: train[TEXT].astype(str).to_numpy()})
    pipeline = baseline_pipeline(random_state=random_state)
    with threadpool_limits(limits=1):
        pipeline.fit(texts, y[:, varied[0]] if len(varied) == 1 else y[:, varied])
        predicted = pipeline.predict(pd.DataFrame({TEXT: test[TEXT].astype(str).to_numpy()}))
    predicted = np.asarray(predicted).reshape(len(test), len(varied)).astype(bool)
    for n, k in enumerate(varied):
        result[themes[k]] = predicted[:, n]
    return result


# --- grouped cross-validation ---------------------------------------------------------------------------


def transcript_folds(transcript_ids: Sequence[str], *, folds: int, seed: int) -> list[Fold]:
    """GroupKFold by transcript, `folds` splits (fewer when there are fewer transcripts), shuffled by `seed`."""
    groups = pd.Series(list(transcript_ids), dtype=str)
    n_transcripts = groups.nunique()
    n_splits = min(folds, n_transcripts)
    if n_splits < 2:
        raise QualcodeError(
            f"grouped cross-validation needs coded segments from at least 2 transcripts, found {n_transcripts}"
        )
    splitter = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    result = []
    for number, (train_rows, test_rows) in enumerate(splitter.split(groups, groups=groups), start=1):
        result.append(
            Fold(
                number=number,
                train=tuple(sorted(set(groups.iloc[train_rows]))),
                test=tuple(sorted(set(groups.iloc[test_rows]))),
            )
        )
    check_no_leakage(result)
    return result


def check_no_leakage(folds: Sequence[Fold]) -> None:
    """Raise if a transcript is in both the training and the test side of a fold."""
    for fold in folds:
        shared = set(fold.train) & set(fold.test)
        if shared:
            raise QualcodeError(f"fold {fold.number}: transcript(s) in both training and test: {sorted(shared)}")


def evaluate(
    data: EvaluationData,
    *,
    codebook: Codebook,
    nlp: Language | None = None,
    options: EvaluationOptions = EvaluationOptions(),
    on_fold: Callable[[Fold], None] | None = None,
) -> Evaluation:
    """Cross-validate the classifier by transcript and compare every method's held-out labels with the gold.

    BLAS runs single-threaded here: the fits are many small sparse problems, and OpenBLAS threads contending
    for a few cores made them twenty times slower on a 2-core machine (measured: 7.2 s vs 0.3 s for 5 themes).
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _evaluate(data, codebook=codebook, nlp=nlp, options=options, on_fold=on_fold)


def _evaluate(
    data: EvaluationData,
    *,
    codebook: Codebook,
    nlp: Language | None,
    options: EvaluationOptions,
    on_fold: Callable[[Fold], None] | None,
) -> Evaluation:
    themes = codebook.theme_ids
    segments = data.segments.reset_index(drop=True)
    ids = segments[SEGMENT_ID].to_numpy()
    labels = data.labels.reindex(index=ids, columns=themes).fillna(False).astype(bool)
    rules = data.rules.reindex(index=ids, columns=themes).fillna(False).astype(bool)
    decided = {mode: pd.DataFrame(False, index=labels.index, columns=themes) for mode in ("classifier", "union")}
    baseline = pd.DataFrame(False, index=labels.index, columns=themes)
    folds = []
    for fold in transcript_folds(segments[TRANSCRIPT_ID], folds=options.folds, seed=options.seed):
        train = segments[segments[TRANSCRIPT_ID].isin(fold.train)]
        test = segments[segments[TRANSCRIPT_ID].isin(fold.test)]
        train_ids, test_ids = train[SEGMENT_ID].to_numpy(), test[SEGMENT_ID].to_numpy()
        try:
            model = train_classifier(
                train,
                labels.loc[train_ids],
                codebook=codebook,
                rules=rules.loc[train_ids],
                nlp=nlp,
                use_examples=options.use_examples,
                random_state=options.seed,
                min_positive=options.min_positive,
                cv_folds=options.folds,
                use_context=options.use_context,
                passage_weight=options.passage_weight,
            )
            predicted, left = model.predict(test, rules.loc[test_ids]), list(model.left_to_rules_)
            fold = Fold(fold.number, fold.train, fold.test, learned=tuple(model.themes_), left_to_rules=tuple(left))
        except ModelError as exc:  # too few positives or transcripts in the training side: rules carry every theme
            predicted, left = pd.DataFrame(index=pd.Index(test_ids, name=SEGMENT_ID)), list(themes)
            fold = Fold(fold.number, fold.train, fold.test, left_to_rules=tuple(themes), note=exc.message)
        for mode in decided:
            combined = combine(rules.loc[test_ids], predicted, mode=mode, left_to_rules=left)
            decided[mode].loc[test_ids] = combined.reindex(index=test_ids, columns=themes).to_numpy()
        baseline.loc[test_ids] = tfidf_baseline_predictions(
            train, labels.loc[train_ids], test, random_state=options.seed
        ).to_numpy()
        folds.append(fold)
        if on_fold:
            on_fold(fold)
    check_no_leakage(folds)
    predictions = {
        "rules": rules,
        "classifier": decided["classifier"],
        "combined": decided["union"],
        "keyword_baseline": data.keywords.reindex(index=ids, columns=themes).fillna(False).astype(bool),
        "tfidf_baseline": baseline,
    }
    groups = pd.Series(segments[TRANSCRIPT_ID].astype(str).to_numpy(), index=labels.index)
    bootstrap = BootstrapOptions(n_resamples=options.resamples, seed=options.seed) if options.resamples else None
    methods = {
        method: compare(labels, predicted_labels, groups=groups, themes=themes, bootstrap=bootstrap)
        for method, predicted_labels in predictions.items()
    }
    return Evaluation(
        methods=methods,
        folds=folds,
        themes=themes,
        theme_labels={t.id: t.label for t in codebook.themes},
        best_mode=best_mode(methods),
    )


def best_mode(methods: dict[str, Comparison]) -> str:
    """The combine mode (rules, classifier, union) with the highest macro kappa; ties go to rules, then union."""
    preference = ("rules", "combined", "classifier")

    def key(method: str) -> tuple[float, int]:
        kappa = methods[method].macro.get("kappa")
        return (kappa if isinstance(kappa, float) and kappa == kappa else -2.0, -preference.index(method))

    return MODE_OF_METHOD[max(preference, key=key)]


# --- a whole project ---------------------------------------------------------------------------------------


def evaluation_data(
    *,
    transcripts_dir: Path,
    codebook: Codebook,
    gold: pd.DataFrame,
    options: EvaluationOptions = EvaluationOptions(),
    nlp: Language | None = None,
    on_start: Callable[[int], None] | None = None,
    on_coded: Callable[[int], None] | None = None,
) -> tuple[EvaluationData, dict[str, Any]]:
    """Code the transcripts the chosen coders coded with the rules; label their respondent segments with the
    gold. Transcripts no chosen coder coded are left out (not coded is not "coded with nothing").
    `on_start(n)` gives the number of transcripts to code, `on_coded(1)` follows each."""
    coders = list(options.coders) if options.coders else sorted(set(gold[CODER]))
    missing_coders = sorted(set(coders) - set(gold[CODER]))
    if missing_coders:
        raise QualcodeError(
            f"unknown coder(s) {', '.join(missing_coders)}; coders: {', '.join(sorted(set(gold[CODER])))}"
        )
    chosen = gold[gold[CODER].isin(coders)]
    transcripts, skipped = read_folder(transcripts_dir, allow_empty=True)  # none of them coded is an error below
    covered = set(chosen[TRANSCRIPT_ID])
    used = [t for t in transcripts if t.id in covered]
    not_found = sorted(covered - {t.id for t in transcripts})
    if not used:
        raise QualcodeError(
            f"no transcript in {transcripts_dir} is in the coder files "
            f"(coded transcript ids: {', '.join(sorted(covered)[:5])}...)",
            path=transcripts_dir,
        )
    check_spans_fit(chosen, {t.id: len(t.text) for t in used})
    coding = CodingOptions(unit=options.unit)
    if on_start:
        on_start(len(used))
    coded = []
    for result in code_corpus(used, codebook=codebook, options=coding, nlp=nlp):
        coded.append(result)
        if on_coded:
            on_coded(1)
    segments = segment_context(segments_frame(s for c in coded for s in c.segments))
    segments = segments[segments[ROLE] != "interviewer"].reset_index(drop=True)
    tags = tags_frame(t for c in coded for t in c.tags)
    themes = codebook.theme_ids
    data = EvaluationData(
        segments=segments,
        labels=segment_labels(segments, chosen, themes=themes, coders=coders),
        rules=rule_features(segments, tags, themes=themes),
        keywords=keyword_matches(segments, codebook),
    )
    record = {
        "codebook": {
            "name": codebook.name,
            "version": codebook.version,
            "hash": codebook.hash,
            "path": str(codebook.path),
            "themes": len(themes),
        },
        "coders": coders,
        "transcripts": len(used),
        "segments": int(len(segments)),
        "unit": options.unit,
        "folds": options.folds,
        "seed": options.seed,
        "resamples": options.resamples,
        "unknown_themes": unknown_themes(chosen, themes),
        "transcripts_not_found": not_found,
        "skipped": [{"source": s.source, "reason": s.reason} for s in problems(skipped)],
    }
    return data, record


def evaluate_project(
    *,
    transcripts_dir: Path,
    codebook_path: Path,
    gold_dir: Path,
    options: EvaluationOptions = EvaluationOptions(),
    on_fold: Callable[[Fold], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_coded: Callable[[int], None] | None = None,
) -> Evaluation:
    """Load the codebook, transcripts and coder files of a project and evaluate every method against the gold
    (`on_start`, `on_coded`: as `evaluation_data`; `on_fold` after each fold)."""
    codebook = load_codebook(codebook_path)
    gold = load_gold(gold_dir)
    nlp = build_nlp(codebook)
    data, record = evaluation_data(
        transcripts_dir=transcripts_dir,
        codebook=codebook,
        gold=gold,
        options=options,
        nlp=nlp,
        on_start=on_start,
        on_coded=on_coded,
    )
    evaluation = evaluate(data, codebook=codebook, nlp=nlp, options=options, on_fold=on_fold)
    evaluation.record = {
        **record,
        "gold": str(gold_dir),
        "transcripts_dir": str(transcripts_dir),
        "best_mode": evaluation.best_mode,
    }
    return evaluation


# --- the HTML report --------------------------------------------------------------------------------------


CHART_COLOURS = {
    "rules": "#4393c3",
    "classifier": "#d6604d",
    "combined": "#762a83",
    "keyword_baseline": "#999999",
    "tfidf_baseline": "#1b7837",
}


def chart(evaluation: Evaluation, *, metric: str) -> dict[str, Any]:
    """Geometry of an SVG bar chart of one metric per theme (themes the gold used) and method, and the macro."""
    bar, gap, label_width, plot_width = 9, 10, 300, 420
    rows: list[dict[str, Any]] = []
    themes = [t for t in evaluation.themes if evaluation.methods["rules"].per_theme.at[t, "support"] > 0]
    groups = [("macro", "Macro (themes the coders used)")] + [(t, evaluation.theme_labels.get(t, t)) for t in themes]
    values = [
        evaluation.methods[m].macro.get(metric) if key == "macro" else evaluation.methods[m].per_theme.at[key, metric]
        for key, _ in groups
        for m in METHODS
    ]
    low = min([0.0, *[v for v in values if v is not None and v == v]])
    scale = plot_width / (1.0 - low)
    zero = label_width + (0 - low) * scale
    y = 20
    for key, label in groups:
        bars = []
        for n, method in enumerate(METHODS):
            comparison = evaluation.methods[method]
            value = comparison.macro.get(metric) if key == "macro" else comparison.per_theme.at[key, metric]
            defined = value is not None and value == value
            x_end = zero + (value * scale if defined else 0)
            bars.append(
                {
                    "method": method,
                    "label": METHOD_LABELS[method],
                    "colour": CHART_COLOURS[method],
                    "x": min(zero, x_end),
                    "width": abs(x_end - zero),
                    "y": y + n * (bar + 1),
                    "value": f"{value:.2f}" if defined else "n/a",
                    "text_x": max(zero, x_end) + 4,
                }
            )
        support = None if key == "macro" else int(evaluation.methods["rules"].per_theme.at[key, "support"])
        rows.append(
            {"label": label, "y": y, "label_y": y + len(METHODS) * (bar + 1) // 2 + 3, "bars": bars, "support": support}
        )
        y += len(METHODS) * (bar + 1) + gap
    ticks = [{"x": zero + v * scale, "label": f"{v:g}"} for v in (low, 0.0, 0.25, 0.5, 0.75, 1.0) if v >= low]
    ticks = list({t["label"]: t for t in ticks}.values())
    return {
        "metric": metric,
        "rows": rows,
        "height": y + 20,
        "width": label_width + plot_width + 60,
        "zero": zero,
        "ticks": ticks,
        "top": 12,
        "label_width": label_width,
    }


def render_html(evaluation: Evaluation) -> str:
    """evaluation.html: the tables of every method and two inline SVG charts (F1, kappa); self-contained."""
    from pipeline.outputs.jinja import environment

    return (
        environment()
        .get_template(HTML_TEMPLATE)
        .render(
            evaluation=evaluation,
            methods=METHODS,
            method_labels=METHOD_LABELS,
            colours=CHART_COLOURS,
            charts=[chart(evaluation, metric="f1"), chart(evaluation, metric="kappa")],
            fmt=format_value,
            fmt_ci=format_interval,
        )
    )


def write_evaluation_html(evaluation: Evaluation, path: Path) -> Path:
    """Write the evaluation report atomically."""
    return atomic_write_text(path, render_html(evaluation))


def format_value(value: Any, digits: int = 2) -> str:
    """A figure for a table cell: n/a for undefined (NaN/None)."""
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_interval(interval: Any, digits: int = 2) -> str:
    """[lo, hi] as "lo–hi", or "" when there is none."""
    if not isinstance(interval, (list, tuple)) or len(interval) != 2 or None in interval:
        return ""
    low, high = interval
    if low != low or high != high:
        return ""
    return f"{low:.{digits}f}–{high:.{digits}f}"
