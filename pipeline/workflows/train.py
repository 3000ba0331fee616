"""Project-level learning: code a project with the rules, train a classifier on its human codes, and pick
the segments most worth coding next. The library under `qualcode train` and `qualcode suggest`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
from spacy.language import Language

from pipeline.classifier.combine import measure_combine, uncertain_segments
from pipeline.classifier.features import rule_features, segment_context
from pipeline.classifier.model import ThemeModel
from pipeline.classifier.train import train_classifier
from pipeline.codebook.load import load_codebook
from pipeline.codebook.model import Codebook
from pipeline.coding.corpus import CodingOptions, build_nlp, code_corpus
from pipeline.coding.table import (
    END_CHAR,
    ROLE,
    SEGMENT_ID,
    START_CHAR,
    THEME,
    TRANSCRIPT_ID,
    segments_frame,
    tags_frame,
)
from pipeline.core.choices import Estimator, Unit
from pipeline.core.errors import QualcodeError
from pipeline.ingest.read import problems, read_folder
from pipeline.ingest.records import Skipped
from pipeline.measure.coder_files import CODER, check_spans_fit, segment_labels, unknown_themes
from pipeline.review.training import ReviewTraining, with_review_decisions


@dataclass
class CodedProject:
    """A project coded by the rules: respondent segments, rule tags and rule features, ready to learn from."""

    codebook: Codebook
    nlp: Language
    segments: pd.DataFrame
    tags: pd.DataFrame
    rules: pd.DataFrame
    skipped: list[Skipped] = field(default_factory=list)
    lengths: dict[str, int] = field(default_factory=dict)  # characters of each transcript, to check coded spans


@dataclass
class TrainingResult:
    """A trained model and what a user must know about the codes it was trained on."""

    model: ThemeModel
    unknown_codes: dict[str, int]
    missing_transcripts: list[str]
    unplaced_codes: pd.DataFrame
    n_segments: int


def code_project(
    *,
    transcripts_dir: Path,
    codebook_path: Path,
    options: CodingOptions = CodingOptions(),
    on_start: Callable[[int], None] | None = None,
    on_coded: Callable[[int], None] | None = None,
) -> CodedProject:
    """Code every transcript with the rules; keep the respondent segments (the ones a run scores).
    `on_start(n)` gives the number of transcripts, `on_coded(1)` follows each one coded."""
    codebook = load_codebook(codebook_path)
    transcripts, skipped = read_folder(transcripts_dir)
    if on_start:
        on_start(len(transcripts))
    nlp = build_nlp(codebook, spacy_model=options.spacy_model)
    coded = []
    for result in code_corpus(transcripts, codebook=codebook, options=options, nlp=nlp):
        coded.append(result)
        if on_coded:
            on_coded(1)
    segments = segment_context(segments_frame(s for c in coded for s in c.segments))
    segments = segments[segments[ROLE] != "interviewer"].reset_index(drop=True)
    tags = tags_frame(t for c in coded for t in c.tags)
    return CodedProject(
        codebook=codebook,
        nlp=nlp,
        segments=segments,
        tags=tags,
        rules=rule_features(segments, tags, themes=codebook.theme_ids),
        skipped=problems(skipped),
        lengths={t.id: len(t.text) for t in transcripts},
    )


def merge_review_log(
    project: CodedProject, gold: pd.DataFrame | None, *, log_path: Path, transcripts_dir: Path
) -> tuple[CodedProject, pd.DataFrame | None, ReviewTraining]:
    """The project and codes with the decisions of `log_path` merged in, if that log belongs to these
    transcripts (see `with_review_decisions`); else both as given, and the ReviewTraining says why not."""
    merged = with_review_decisions(
        project.segments,
        project.tags,
        gold,
        log_path=log_path,
        transcripts_dir=transcripts_dir,
        theme_ids=project.codebook.theme_ids,
    )
    if not merged.used:
        return project, gold, merged
    return replace(project, segments=merged.segments), merged.gold, merged


def train_project(
    project: CodedProject,
    gold: pd.DataFrame,
    *,
    random_state: int = 0,
    min_positive: int = 5,
    cv_folds: int = 5,
    estimator: Estimator = Estimator.LOGISTIC,
    use_examples: bool = True,
    unit: Unit = Unit.SENTENCE,
    measure: bool = True,
    review_log: dict[str, Any] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_step: Callable[[], None] | None = None,
) -> TrainingResult:
    """Train on the segments of every transcript a coder coded (uncoded segments there are negatives), and
    record in the card which combine mode measures best by grouped cross-validation.

    The steps are the model, then (with `measure`) each outer fold of the combine-mode measurement, each of which
    trains a model of its own: `on_start(steps)` gives their number, `on_step()` follows each."""
    themes = project.codebook.theme_ids
    known = set(project.segments[TRANSCRIPT_ID])
    coded_transcripts = set(gold[TRANSCRIPT_ID])
    segments = project.segments[project.segments[TRANSCRIPT_ID].isin(coded_transcripts)].reset_index(drop=True)
    if segments.empty:
        raise QualcodeError(
            "no coded transcript is among the transcripts (check the transcript_id values of the "
            "coder files against the transcripts' ids)"
        )
    check_spans_fit(gold, project.lengths)
    labels = segment_labels(segments, gold, themes=themes)
    rules = project.rules.loc[segments[SEGMENT_ID]]
    # the same training set-up for the model and for measuring the combine modes
    setup = dict(
        codebook=project.codebook,
        rules=rules,
        nlp=project.nlp,
        use_examples=use_examples,
        random_state=random_state,
        min_positive=min_positive,
        cv_folds=cv_folds,
        estimator=estimator,
    )
    if on_start:
        on_start(1 + (min(cv_folds, segments[TRANSCRIPT_ID].nunique()) if measure else 0))
    model = train_classifier(segments, labels, **setup)
    if on_step:
        on_step()
    model.card["unit"] = str(unit)  # a plain string: the card is saved in the skops file
    model.card["training_data"]["coders"] = sorted(set(gold[CODER]))
    if review_log is not None:
        model.card["training_data"]["review_log"] = review_log
    if measure:
        measured = measure_combine(segments, labels, **setup, on_fold=on_step)
        model.card["best_combine"] = measured.pop("best")
        model.card["combine_measured"] = measured
    unknown = gold[gold[THEME].isin(unknown_themes(gold, themes))][THEME].value_counts().sort_index()
    return TrainingResult(
        model=model,
        unknown_codes={str(k): int(v) for k, v in unknown.items()},
        missing_transcripts=sorted(coded_transcripts - known),
        unplaced_codes=unplaced_codes(project.segments, gold[gold[THEME].isin(themes)]),
        n_segments=len(segments),
    )


def unplaced_codes(segments: pd.DataFrame, gold: pd.DataFrame) -> pd.DataFrame:
    """Coded spans that overlap no respondent segment (wrong offsets, or interviewer turns): not learned from."""
    placed = segments[[TRANSCRIPT_ID, START_CHAR, END_CHAR]].merge(
        gold.reset_index(names="_row"), on=TRANSCRIPT_ID, suffixes=("_segment", "")
    )
    placed = placed[
        (placed[START_CHAR] < placed[END_CHAR + "_segment"]) & (placed[START_CHAR + "_segment"] < placed[END_CHAR])
    ]
    return gold[~gold.index.isin(placed["_row"])]


def suggest_segments(
    project: CodedProject,
    model: ThemeModel,
    *,
    gold: pd.DataFrame | None,
    n: int = 20,
    new_transcripts_only: bool = False,
) -> pd.DataFrame:
    """The `n` respondent segments no coder has coded whose top theme score is closest to its threshold."""
    candidates = project.segments
    if gold is not None and not gold.empty:
        coded = segment_labels(candidates, gold, themes=sorted(set(gold[THEME]))).any(axis=1)
        candidates = candidates[~coded.to_numpy()]
        if new_transcripts_only:
            candidates = candidates[~candidates[TRANSCRIPT_ID].isin(set(gold[TRANSCRIPT_ID]))]
    # scored with every segment present: a segment's score blends in its whole turn's (model.passage_scores)
    scores = model.scores(project.segments, project.rules).loc[candidates[SEGMENT_ID].to_numpy()]
    return uncertain_segments(candidates, scores, model.thresholds_, n=n)


def card_summary(model: ThemeModel) -> list[dict[str, Any]]:
    """One row per codebook theme for the train table: coded positives, threshold and CV metrics, or left to rules."""
    positives = model.card["training_data"]["coded_positives"]
    rows = []
    for theme, count in positives.items():
        metrics = model.card["metrics"].get(theme)
        rows.append({"theme": theme, "coded": count, "learned": metrics is not None, **(metrics or {})})
    return rows
