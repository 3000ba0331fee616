"""The whole run: a corpus of one partition coded and held in memory, its tables, matrix and reports built at
once."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.codebook.model import Codebook
from pipeline.coding.corpus import CodingOptions, Tagger, code_corpus
from pipeline.coding.table import segments_frame, tags_frame
from pipeline.core.choices import Engine
from pipeline.core.files import staged_set
from pipeline.ingest.records import Transcript
from pipeline.outputs.matrix import build_matrix
from pipeline.outputs.report import write_reports
from pipeline.review.apply import apply_saved_reviews
from pipeline.workflows.partitions import TagCounts, coded_warnings, transcript_record
from pipeline.workflows.run_record import full_record
from pipeline.workflows.run_result import RunResult


def run_whole(
    transcripts: Sequence[Transcript],
    *,
    out: Path,
    metadata: pd.DataFrame,
    tagger: Tagger | None,
    thresholds: Mapping[str, float] | None,
    engine: Engine,
    on_coded: Callable[[int], None] | None,
    settings: dict[str, Any],
) -> RunResult:
    """A run of one partition: every transcript coded (`jobs` processes) and its tables held whole."""
    codebook: Codebook = settings["codebook"]
    options: CodingOptions = settings["options"]
    jobs: int = settings["jobs"]
    by: str = settings["by"]
    coded = []
    for result in code_corpus(transcripts, codebook=codebook, options=options, jobs=jobs, tagger=tagger):
        coded.append(result)
        if on_coded:
            on_coded(1)
    tags = tags_frame(tag for c in coded for tag in c.tags)
    segments = segments_frame(segment for c in coded for segment in c.segments)
    tags, review = apply_saved_reviews(out, tags=tags, segments=segments, transcripts=transcripts, codebook=codebook)
    matrix = build_matrix(tags, metadata, codebook, by=by, thresholds=thresholds)
    record = full_record(
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
