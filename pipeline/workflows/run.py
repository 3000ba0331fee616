"""One coding run over a project: ingest -> segment -> tag -> table -> matrix -> reports, with a run record.

A corpus of one partition is coded whole (`run_whole`), a larger one or any on dask in partitions
(`run_partitioned`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from pipeline.classifier.precision import DEFAULT_MIN_PRECISION
from pipeline.codebook.load import load_codebook
from pipeline.codebook.model import Codebook
from pipeline.coding.corpus import CodingOptions
from pipeline.coding.table import metadata_frame
from pipeline.core.choices import DEFAULT_PARTITION_SIZE, Combine, Engine
from pipeline.core.errors import QualcodeError
from pipeline.core.files import output_lock
from pipeline.ingest.catalog import catalog_folder, read_again
from pipeline.outputs.matrix import DEFAULT_GROUP_FIELD
from pipeline.workflows.engines import check_dask, code_partitions
from pipeline.workflows.model_choice import classifier_setup
from pipeline.workflows.partitions import CodingJob, partitions
from pipeline.workflows.run_partitioned import run_partitioned
from pipeline.workflows.run_result import RunResult
from pipeline.workflows.run_whole import run_whole

if TYPE_CHECKING:  # sklearn is imported only when a model is used
    from pipeline.classifier.model import ThemeModel


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
    # a local corpus of one partition is read once and held whole; any other is catalogued, its texts read again
    # a partition at a time
    catalog = catalog_folder(transcripts_dir, hold=partition_size if engine == Engine.LOCAL else 0)
    if on_start:
        on_start(len(catalog.entries))
    tagger = None
    if model is not None:
        from pipeline.classifier.combine import ModelTagger

        tagger = ModelTagger(model, codebook, combine, min_precision)
    metadata = metadata_frame(catalog.entries)
    by, run_warnings = group_field(by, metadata, transcripts_dir=transcripts_dir)
    thresholds = model.thresholds_ if model is not None else None
    settings = dict(
        started=started,
        codebook=codebook,
        skipped=catalog.skipped,
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
    if catalog.transcripts is not None:  # one partition: coded and held whole
        return run_whole(
            catalog.transcripts,
            out=out,
            metadata=metadata,
            tagger=tagger,
            thresholds=thresholds,
            engine=engine,
            on_coded=on_coded,
            settings=settings,
        )
    entries = catalog.entries
    del catalog
    job = CodingJob(codebook=codebook, options=options, tagger=tagger)
    # at most `partition_size`, and small enough that every one of `jobs` workers gets a partition
    partition_size = min(partition_size, -(-len(entries) // max(1, jobs)))
    # each partition's transcripts are read from disk when the engine takes it to submit
    parts = ((index, read_again(chunk)) for index, chunk in partitions(entries, partition_size))
    coding = code_partitions(job, parts, engine=engine, jobs=jobs, scheduler=scheduler)
    return run_partitioned(
        coding,
        entries=entries,
        out=out,
        metadata=metadata,
        thresholds=thresholds,
        partition_size=partition_size,
        engine=engine,
        on_coded=on_coded,
        settings=settings,
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
