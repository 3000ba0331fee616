"""One coding run over a project: ingest -> segment -> tag -> table -> matrix -> reports, with a run record."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
from pipeline.coding.table import metadata_frame, segments_frame, tags_frame
from pipeline.core.choices import DEFAULT_PARTITION_SIZE, Combine, Engine
from pipeline.core.errors import QualcodeError
from pipeline.core.files import output_lock, staged_set
from pipeline.ingest.metadata import load_metadata
from pipeline.ingest.read import problems, read_folder, read_transcript
from pipeline.ingest.records import Skipped, Transcript
from pipeline.outputs.matrix import (
    DEFAULT_GROUP_FIELD,
    FindingsMatrix,
    Grouping,
    add_matrix_parts,
    build_matrix,
    combine_matrix,
    matrix_part,
)
from pipeline.outputs.report import run_statement, transcript_page, write_report_set, write_reports
from pipeline.review.apply import apply_saved_reviews
from pipeline.review.log import LOG_NAME
from pipeline.workflows.engines import check_dask, code_partitions
from pipeline.workflows.partitions import (
    CodingJob,
    PartitionResult,
    SpilledPartition,
    TagCounts,
    coded_from_tables,
    coded_warnings,
    partitions,
    transcript_record,
)

if TYPE_CHECKING:  # sklearn is imported only when a model is used
    from pipeline.classifier.model import ThemeModel
from pipeline.core.versions import package_versions

DEFAULT_MODEL = Path("models/classifier.skops")


@dataclass
class RunResult:
    """What a run produced: the tables, the matrix and the run record written to run.json."""

    coded: list[CodedTranscript]  # empty for a partitioned run, which never holds the corpus whole
    tags: pd.DataFrame | None  # None for a partitioned run: read tags.csv
    segments: pd.DataFrame | None
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
    engine: Engine = Engine.LOCAL,
    scheduler: str | None = None,
    partition_size: int = DEFAULT_PARTITION_SIZE,
    on_coded: Callable[[int], None] | None = None,
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

    A corpus of more than `partition_size` transcripts, or any corpus on the dask `engine`, is coded in
    partitions (`run_partitioned`); `on_coded(n)` reports progress, n transcripts at a time.
    """
    if not 0.0 <= min_precision <= 1.0:
        raise QualcodeError(f"the precision bar must be between 0 and 1, not {min_precision}")
    if partition_size < 1:
        raise QualcodeError(f"the partition size must be at least 1 transcript, not {partition_size}")
    if scheduler and engine != Engine.DASK:
        raise QualcodeError("--scheduler is for --engine dask (the local engine has no scheduler)")
    if engine == Engine.DASK:
        check_dask(scheduler)  # before reading anything
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
            engine=engine,
            scheduler=scheduler,
            partition_size=partition_size,
            on_coded=on_coded,
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
    engine: Engine,
    scheduler: str | None,
    partition_size: int,
    on_coded: Callable[[int], None] | None,
    on_start: Callable[[int], None] | None,
    model: ThemeModel | None,
    model_path: Path | None,
    combine: str,
    min_precision: float,
) -> RunResult:
    transcripts, every_skipped = read_folder(transcripts_dir)
    if on_start:
        on_start(len(transcripts))
    tagger = None
    if model is not None:
        from pipeline.classifier.combine import ModelTagger

        tagger = ModelTagger(model, codebook, combine, min_precision)
    metadata = metadata_frame(transcripts)
    by, run_warnings = group_field(by, metadata, transcripts_dir=transcripts_dir)
    thresholds = model.thresholds_ if model is not None else None
    settings = dict(
        started=started,
        codebook=codebook,
        skipped=every_skipped,
        options=options,
        by=by,
        jobs=jobs,
        transcripts_dir=transcripts_dir,
        min_precision=min_precision,
        run_warnings=run_warnings,
        model=model,
        model_path=model_path,
        combine=combine,
    )
    if engine == Engine.LOCAL and len(transcripts) <= partition_size:  # one partition: coded and held whole
        coded = []
        for result in code_corpus(transcripts, codebook=codebook, options=options, jobs=jobs, tagger=tagger):
            coded.append(result)
            if on_coded:
                on_coded(1)
        tags = tags_frame(tag for c in coded for tag in c.tags)
        segments = segments_frame(segment for c in coded for segment in c.segments)
        tags, review = apply_saved_reviews(
            out, tags=tags, segments=segments, transcripts=transcripts, codebook=codebook
        )
        matrix = build_matrix(tags, metadata, codebook, by=by, thresholds=thresholds)
        record = _record(
            **settings,
            transcript_records=[transcript_record(c) for c in coded],
            warnings=coded_warnings(coded),
            n_segments=len(segments),
            counts=TagCounts.of(tags),
            review=review,
        )
        record["options"].update(engine=str(engine), partition_size=None)
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
        return RunResult(
            coded=coded,
            tags=tags,
            segments=segments,
            metadata=metadata,
            matrix=matrix,
            record=record,
            written=[out / path.name for path in staged],
        )
    job = CodingJob(codebook=codebook, options=options, tagger=tagger)
    # at most `partition_size`, and small enough that every one of `jobs` workers gets a partition
    partition_size = min(partition_size, -(-len(transcripts) // max(1, jobs)))
    coding = code_partitions(
        job, transcripts, engine=engine, jobs=jobs, partition_size=partition_size, scheduler=scheduler
    )
    return run_partitioned(
        coding,
        transcripts=transcripts,
        out=out,
        metadata=metadata,
        thresholds=thresholds,
        partition_size=partition_size,
        engine=engine,
        on_coded=on_coded,
        settings=settings,
    )


def run_partitioned(
    coding: Iterator[PartitionResult],
    *,
    transcripts: Sequence[Transcript],
    out: Path,
    metadata: pd.DataFrame,
    thresholds: Mapping[str, float] | None,
    partition_size: int,
    engine: Engine,
    on_coded: Callable[[int], None] | None,
    settings: dict[str, Any],
) -> RunResult:
    """A run whose partitions arrive from `coding`: each partition's tables go to Parquet in `<out>/.parts-<pid>`
    as they arrive, the matrix and counts are added up over partitions, and the reports are written by reading
    the partitions back one at a time. With a review log in `out`, reviews are applied to the whole tags table
    (decisions can name any transcript), so that run holds the tables whole."""
    codebook: Codebook = settings["codebook"]
    grouping = Grouping.of(metadata, settings["by"])
    reviewed = (out / LOG_NAME).exists()
    parts = out / f".parts-{os.getpid()}"
    shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir(parents=True)
    try:
        spilled: list[SpilledPartition] = []
        records: list[dict[str, Any]] = []
        warnings: list[dict[str, str]] = []
        counts, n_segments, share = TagCounts(), 0, None
        for result in coding:
            spilled.append(SpilledPartition.write(result, parts))
            records.extend(result.transcripts)
            warnings.extend(result.warnings)
            n_segments += len(result.segments)
            if not reviewed:
                counts += TagCounts.of(result.tags)
                part = matrix_part(result.tags, grouping, codebook, thresholds=thresholds)
                share = part if share is None else add_matrix_parts(share, part)
            if on_coded:
                on_coded(len(result.transcripts))
            del result
        chunks = [chunk for _, chunk in partitions(transcripts, partition_size)]
        review = None
        if reviewed:
            tags = pd.concat([s.tags() for s in spilled], ignore_index=True)
            segments = pd.concat([s.segments() for s in spilled], ignore_index=True)
            tags, review = apply_saved_reviews(
                out, tags=tags, segments=segments, transcripts=transcripts, codebook=codebook
            )
            matrix = build_matrix(tags, metadata, codebook, by=grouping.by, thresholds=thresholds)
            counts = TagCounts.of(tags)
            tag_parts: Iterable[pd.DataFrame] = [tags]
            segment_parts: Iterable[pd.DataFrame] = [segments]
            tables: Iterable[tuple[Sequence[Transcript], pd.DataFrame, pd.DataFrame]] = [(transcripts, tags, segments)]
        else:
            matrix = combine_matrix([share] if share is not None else [], grouping, codebook)
            tag_parts = (s.tags() for s in spilled)
            segment_parts = (s.segments() for s in spilled)
            tables = ((chunk, s.tags(), s.segments()) for chunk, s in zip(chunks, spilled))
        record = _record(
            **settings,
            transcript_records=records,
            warnings=warnings,
            n_segments=n_segments,
            counts=counts,
            review=review,
        )
        record["options"].update(engine=str(engine), partition_size=partition_size)
        statement = run_statement(record)
        pages = (
            transcript_page(coded, tags, codebook, accuracy=statement)
            for chunk, tags, segments in tables
            for coded in coded_from_tables(chunk, segments)
        )
        with staged_set(out) as staging:  # the whole report set goes in at once, or not at all
            staged = write_report_set(
                staging,
                tags=tag_parts,
                segments=segment_parts,
                pages=pages,
                metadata=metadata,
                matrix=matrix,
                codebook=codebook,
                run=record,
            )
    finally:
        shutil.rmtree(parts, ignore_errors=True)
    return RunResult(
        coded=[],
        tags=None,
        segments=None,
        metadata=metadata,
        matrix=matrix,
        record=record,
        written=[out / path.name for path in staged],
    )


def group_field(by: str | None, metadata: pd.DataFrame, *, transcripts_dir: Path) -> tuple[str, list[dict[str, str]]]:
    """The metadata field whose values are the matrix's groups, and a warning when the default one is missing;
    an unknown field asked for is an error."""
    if by is None:
        if DEFAULT_GROUP_FIELD in metadata.columns:
            return DEFAULT_GROUP_FIELD, []
        warning = (
            f"no `{DEFAULT_GROUP_FIELD}` metadata: all interviews are one group "
            "(add a metadata.csv, or choose a field with --by)"
        )
        return DEFAULT_GROUP_FIELD, [{"source": ".", "message": warning}]
    if by not in metadata.columns:
        raise QualcodeError(
            f"--by {by!r} is not a metadata field (fields: {', '.join(sorted(map(str, metadata.columns)))})",
            path=transcripts_dir,
        )
    return by, []


def _record(
    *,
    started: datetime,
    codebook: Codebook,
    skipped: list[Skipped],
    options: CodingOptions,
    by: str,
    jobs: int,
    transcripts_dir: Path,
    min_precision: float,
    run_warnings: list[dict[str, str]],
    model: ThemeModel | None,
    model_path: Path | None,
    combine: str,
    transcript_records: list[dict[str, Any]],
    warnings: list[dict[str, str]],
    n_segments: int,
    counts: TagCounts,
    review: dict[str, Any] | None,
) -> dict[str, Any]:
    record = run_record(
        codebook=codebook,
        transcript_records=transcript_records,
        warnings=warnings,
        n_segments=n_segments,
        skipped=skipped,
        tags=counts,
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
    record["classifier"] = classifier_record(model, combine=combine, model_path=model_path, tags=counts)
    record["tagging"] = tagging_record(
        model, codebook=codebook, combine=combine, min_precision=min_precision, tags=counts
    )
    return record


def run_record(
    *,
    codebook: Codebook,
    transcript_records: list[dict[str, Any]],
    warnings: list[dict[str, str]],
    n_segments: int,
    skipped: list[Skipped],
    tags: TagCounts,
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
    reasons = tags.not_evidence_by_reason
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
            "transcripts": len(transcript_records),
            "skipped": len(skipped),
            "segments": n_segments,
            "tags": tags.tags,
            "evidence_tags": tags.evidence,
            "negated_or_hypothetical_tags": reasons["negated"] + reasons["hypothetical"],
            "not_evidence_by_reason": dict(sorted(reasons.items())),
            "evidence_tags_by_theme": dict(sorted(tags.evidence_by_theme.items())),
        },
        "transcripts": transcript_records,
        "skipped": [{"source": s.source, "reason": s.reason} for s in skipped],
        "not_transcripts": [{"source": s.source, "reason": s.reason} for s in ignored],
        "warnings": list(warnings),
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
    model: ThemeModel | None, *, combine: str, model_path: Path | None, tags: TagCounts
) -> dict[str, Any]:
    """The classifier facts of a run for run.json: which model (path and card hash), how it was combined."""
    by_method = dict(sorted(tags.by_method.items()))
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
    model: ThemeModel | None,
    *,
    codebook: Codebook,
    combine: str,
    min_precision: float,
    tags: TagCounts,
) -> dict[str, Any]:
    """How the tags were made and how accurate that measured, for run.json and every report's "How these tags
    were made" block: rules, model, combine mode, the precision bar, and the card's grouped-CV figures."""
    card = model.card if model is not None else None
    measured = (card or {}).get("combine_measured") or {}
    reasons = tags.by_reason
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
        "below_precision_bar_tags": reasons["below_precision_bar"],
    }
