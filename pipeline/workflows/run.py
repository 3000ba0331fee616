"""One coding run over a project: ingest -> segment -> tag -> table -> matrix -> reports, with a run record."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipeline.classifier.precision import (
    DEFAULT_MIN_PRECISION,
    EVIDENCE_RULE,
    measured_by,
    measured_per_theme,
    theme_accuracy,
)
from pipeline.codebook.load import load_codebook
from pipeline.codebook.model import Codebook
from pipeline.coding.corpus import CodedTranscript, CodingOptions, build_nlp, code_corpus, code_transcript
from pipeline.coding.table import EVIDENCE, EVIDENCE_REASON, METHOD, THEME, metadata_frame, segments_frame, tags_frame
from pipeline.core.choices import Combine
from pipeline.core.errors import QualcodeError
from pipeline.core.files import output_lock, staged_set
from pipeline.ingest.metadata import load_metadata
from pipeline.ingest.read import problems, read_folder, read_transcript
from pipeline.ingest.records import Skipped, Transcript
from pipeline.outputs.matrix import DEFAULT_GROUP_FIELD, FindingsMatrix, build_matrix
from pipeline.outputs.report import write_reports
from pipeline.review.apply import apply_saved_reviews

if TYPE_CHECKING:  # sklearn is imported only when a model is used
    from pipeline.classifier.model import ThemeModel
from pipeline.core.versions import package_versions

DEFAULT_MODEL = Path("models/classifier.skops")


@dataclass
class RunResult:
    """What a run produced: the tables, the matrix and the run record written to run.json."""

    coded: list[CodedTranscript]
    tags: pd.DataFrame
    segments: pd.DataFrame
    metadata: pd.DataFrame
    matrix: FindingsMatrix
    record: dict[str, Any]
    written: list[Path]


def run_project(
    *,
    transcripts_dir: Path,
    codebook_path: Path,
    out: Path,
    by: str | None = None,
    options: CodingOptions = CodingOptions(),
    jobs: int = 1,
    on_transcript: Callable[[CodedTranscript], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    model_path: Path | None = None,
    combine: Combine = Combine.AUTO,
    model: ThemeModel | None = None,
    min_precision: float = DEFAULT_MIN_PRECISION,
) -> RunResult:
    """Code every transcript under `transcripts_dir` against the codebook and write the reports to `out`.

    With `model_path` (or a loaded `model`) the classifier tags too, combined with the rules by `combine`:
    rules, classifier, union, or auto (the mode the model card measured best; rules without a model).
    Unreviewed tags whose method measured a precision under `min_precision` for the theme are not evidence.
    """
    if not 0.0 <= min_precision <= 1.0:
        raise QualcodeError(f"the precision bar must be between 0 and 1, not {min_precision}")
    started = datetime.now(UTC)
    codebook = load_codebook(codebook_path)
    model, combine = classifier_setup(codebook, model_path=model_path, model=model, combine=combine)
    if not transcripts_dir.is_dir():
        raise QualcodeError("transcripts folder not found", path=transcripts_dir)
    with output_lock(out, purpose="qualcode run"):  # held while coding: a second run into `out` fails at once
        return _run_locked(
            started=started,
            codebook=codebook,
            transcripts_dir=transcripts_dir,
            out=out,
            by=by,
            options=options,
            jobs=jobs,
            on_transcript=on_transcript,
            on_start=on_start,
            model=model,
            model_path=model_path,
            combine=combine,
            min_precision=min_precision,
        )


def _run_locked(
    *,
    started: datetime,
    codebook: Codebook,
    transcripts_dir: Path,
    out: Path,
    by: str | None,
    options: CodingOptions,
    jobs: int,
    on_transcript: Callable[[CodedTranscript], None] | None,
    on_start: Callable[[int], None] | None,
    model: ThemeModel | None,
    model_path: Path | None,
    combine: str,
    min_precision: float,
) -> RunResult:
    transcripts, every_skipped = read_folder(transcripts_dir)
    if on_start:
        on_start(len(transcripts))
    coded = []
    tagger = None
    if model is not None:
        from pipeline.classifier.combine import ModelTagger

        tagger = ModelTagger(model, codebook, combine, min_precision)
    for result in code_corpus(transcripts, codebook=codebook, options=options, jobs=jobs, tagger=tagger):
        coded.append(result)
        if on_transcript:
            on_transcript(result)
    tags = tags_frame(tag for c in coded for tag in c.tags)
    segments = segments_frame(segment for c in coded for segment in c.segments)
    metadata = metadata_frame(transcripts)
    tags, review = apply_saved_reviews(out, tags=tags, segments=segments, transcripts=transcripts, codebook=codebook)
    run_warnings = []
    if by is None:
        by = DEFAULT_GROUP_FIELD
        if by not in metadata.columns:
            run_warnings.append(
                {
                    "source": ".",
                    "message": f"no `{by}` metadata: all interviews are one group "
                    "(add a metadata.csv, or choose a field with --by)",
                }
            )
    elif by not in metadata.columns:
        raise QualcodeError(
            f"--by {by!r} is not a metadata field (fields: {', '.join(sorted(map(str, metadata.columns)))})",
            path=transcripts_dir,
        )
    matrix = build_matrix(tags, metadata, codebook, by=by, thresholds=model.thresholds_ if model is not None else None)
    record = run_record(
        codebook=codebook,
        coded=coded,
        skipped=every_skipped,
        tags=tags,
        options=options,
        by=by,
        jobs=jobs,
        transcripts_dir=transcripts_dir,
        started=started,
    )
    record["options"]["min_precision"] = min_precision
    record["warnings"].extend(run_warnings)
    if review is not None:
        record["review"] = review
    record["classifier"] = classifier_record(model, combine=combine, model_path=model_path, tags=tags)
    record["tagging"] = tagging_record(
        model, codebook=codebook, combine=combine, min_precision=min_precision, tags=tags
    )
    with staged_set(out) as staging:  # the whole report set goes in at once, or not at all
        staged = write_reports(
            staging,
            coded=coded,
            tags=tags,
            segments=segments,
            metadata=metadata,
            matrix=matrix,
            codebook=codebook,
            run=record,
        )
    written = [out / path.name for path in staged]
    return RunResult(
        coded=coded, tags=tags, segments=segments, metadata=metadata, matrix=matrix, record=record, written=written
    )


def run_record(
    *,
    codebook: Codebook,
    coded: list[CodedTranscript],
    skipped: list[Skipped],
    tags: pd.DataFrame,
    options: CodingOptions,
    by: str,
    jobs: int,
    transcripts_dir: Path,
    started: datetime,
) -> dict[str, Any]:
    """The facts of a run for run.json: inputs and their hashes, versions, counts, skipped files (problems, and
    the files that are not transcripts), warnings."""
    ignored = [s for s in skipped if s.ignored]
    skipped = problems(skipped)
    evidence = tags[tags[EVIDENCE]] if len(tags) else tags
    reasons = (
        tags.loc[~tags[EVIDENCE], EVIDENCE_REASON].value_counts() if EVIDENCE_REASON in tags else pd.Series(dtype=int)
    )
    return {
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": package_versions(),
        "codebook": {
            "path": str(codebook.path),
            "name": codebook.name,
            "version": codebook.version,
            "hash": codebook.hash,
            "themes": len(codebook.themes),
        },
        "options": {
            "transcripts": str(transcripts_dir),
            "by": by,
            "unit": options.unit,
            "jobs": jobs,
            "code_interviewer": options.code_interviewer,
            "spacy_model": options.spacy_model or "blank:en+sentencizer+lookup-lemmatizer",
        },
        "counts": {
            "transcripts": len(coded),
            "skipped": len(skipped),
            "segments": sum(len(c.segments) for c in coded),
            "tags": int(len(tags)),
            "evidence_tags": int(len(evidence)),
            "negated_or_hypothetical_tags": int(reasons.get("negated", 0) + reasons.get("hypothetical", 0)),
            "not_evidence_by_reason": {str(k): int(v) for k, v in reasons.sort_index().items()},
            "evidence_tags_by_theme": {k: int(v) for k, v in evidence[THEME].value_counts().sort_index().items()},
        },
        "transcripts": [transcript_record(c) for c in coded],
        "skipped": [{"source": s.source, "reason": s.reason} for s in skipped],
        "not_transcripts": [{"source": s.source, "reason": s.reason} for s in ignored],
        "warnings": [
            {"source": c.transcript.source, "message": w} for c in coded for w in [*c.transcript.warnings, *c.warnings]
        ],
    }


def classifier_setup(
    codebook: Codebook, *, model_path: Path | None, model: ThemeModel | None, combine: Combine
) -> tuple[ThemeModel | None, str]:
    """The model a run uses (loaded and checked against the codebook) and its combine mode, "auto" resolved."""
    if model is None and model_path is not None:
        from pipeline.classifier.persist import load_model

        model = load_model(model_path, codebook=codebook)
    if model is None:
        if combine not in ("auto", "rules"):
            raise QualcodeError(f"combine mode {combine!r} needs a classifier model (--model FILE)")
        return None, "rules"
    from pipeline.classifier.combine import resolve_combine

    return model, resolve_combine(model, combine)


def default_model(codebook: Codebook, *, path: Path = DEFAULT_MODEL) -> tuple[Path | None, str]:
    """The default model if it exists and its card says it was trained for this codebook; else None and why."""
    if not path.is_file():
        return None, f"no --model given and no {path}"
    card = path.with_name(path.name + ".card.json")  # classify.card_path, without importing sklearn
    if card.is_file():
        try:
            trained_for = json.loads(card.read_text(encoding="utf-8")).get("codebook", {}).get("hash")
        except (OSError, ValueError, AttributeError):
            trained_for = None
        if trained_for != codebook.hash:
            return None, (
                f"{path} was trained for another codebook (hash {trained_for}, this one {codebook.hash}); "
                "retrain with `qualcode train`"
            )
    return path, ""


def choose_model(codebook: Codebook, *, model_path: Path | None, combine: Combine) -> tuple[Path | None, str]:
    """The model a command codes with: `model_path`, else the default model if it fits the codebook (else None,
    and why). A combine mode that needs a model, with none to use, is an error."""
    if model_path is not None:
        return model_path, ""
    model_path, why_not = default_model(codebook)
    if why_not and combine in (Combine.CLASSIFIER, Combine.UNION):
        raise QualcodeError(f"--combine {combine} needs a model: {why_not}")
    return model_path, why_not


def tag_file(
    path: Path,
    *,
    codebook_path: Path,
    options: CodingOptions = CodingOptions(),
    model_path: Path | None = None,
    combine: Combine = Combine.AUTO,
) -> tuple[Transcript, pd.DataFrame]:
    """One transcript file (with its folder's metadata.csv row) coded as a run codes it: its tags table."""
    codebook = load_codebook(codebook_path)
    model, combine = classifier_setup(codebook, model_path=model_path, model=None, combine=combine)
    transcript = read_transcript(path, metadata=load_metadata(path.parent).get(path.name, {}))
    tagger = None
    if model is not None:
        from pipeline.classifier.combine import ModelTagger

        tagger = ModelTagger(model, codebook, combine)
    nlp = build_nlp(codebook, spacy_model=options.spacy_model)
    coded = code_transcript(transcript, nlp=nlp, codebook=codebook, options=options, tagger=tagger)
    return transcript, tags_frame(coded.tags)


def classifier_record(
    model: ThemeModel | None, *, combine: str, model_path: Path | None, tags: pd.DataFrame
) -> dict[str, Any]:
    """The classifier facts of a run for run.json: which model (path and card hash), how it was combined."""
    by_method = {str(k): int(v) for k, v in tags[METHOD].value_counts().sort_index().items()} if len(tags) else {}
    if model is None:
        return {"model": None, "combine": combine, "tags_by_method": by_method}
    return {
        "model": str(model_path) if model_path else model.source,
        "card_hash": model.card_hash,
        "label": model.label,
        "combine": combine,
        "themes": model.themes_,
        "left_to_rules": model.left_to_rules_,
        "thresholds": model.thresholds_,
        "tags_by_method": by_method,
    }


def tagging_record(
    model: ThemeModel | None, *, codebook: Codebook, combine: str, min_precision: float, tags: pd.DataFrame
) -> dict[str, Any]:
    """How the tags were made and how accurate that measured, for run.json and every report's "How these tags
    were made" block: rules, model, combine mode, the precision bar, and the card's grouped-CV figures."""
    card = model.card if model is not None else None
    measured = (card or {}).get("combine_measured") or {}
    reasons = tags[EVIDENCE_REASON].value_counts() if EVIDENCE_REASON in tags else pd.Series(dtype=int)
    return {
        "rules": f"{sum(len(t.rules) for t in codebook.themes)} rules of codebook {codebook.name} "
        f"v{codebook.version}, with negation and hypotheticals detected ConText-style",
        "model": model.label if model is not None else None,
        "combine": combine,
        "min_precision": min_precision,
        "evidence_rule": EVIDENCE_RULE.format(bar=min_precision),
        "measured": bool(measured_per_theme(card)),
        "measured_by": measured_by(card),
        "trained_on": (
            {
                "segments": card["training_data"]["segments"],
                "transcripts": card["training_data"]["transcripts"],
                "coders": card["training_data"].get("coders", []),
            }
            if card
            else None
        ),
        "macro": measured.get("macro", {}),
        "per_theme": theme_accuracy(
            card,
            codebook.theme_ids,
            mode=combine,
            learned=[t for t in model.themes_ if t not in model.left_to_rules_] if model is not None else [],
            bar=min_precision,
        ),
        "below_precision_bar_tags": int(reasons.get("below_precision_bar", 0)),
    }


def transcript_record(coded: CodedTranscript) -> dict[str, Any]:
    t: Transcript = coded.transcript
    return {
        "id": t.id,
        "source": t.source,
        "format": t.format,
        "encoding": t.encoding,
        "layout": t.layout,
        "turns": len(t.turns),
        "segments": len(coded.segments),
        "tags": len(coded.tags),
        "evidence_tags": sum(tag.counts_as_evidence for tag in coded.tags),
        "speakers": sorted({f"{turn.speaker or '(unlabelled)'}={turn.role}" for turn in t.turns}),
    }
