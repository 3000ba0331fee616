"""The partitioned run: partitions coded on an engine arrive in order, spill to Parquet beside the reports, and
the matrix, counts and reports are built from them a partition at a time."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.codebook.model import Codebook
from pipeline.core.choices import Engine
from pipeline.core.files import staged_set
from pipeline.ingest.catalog import read_again
from pipeline.ingest.records import CatalogEntry, Transcript
from pipeline.outputs.matrix import Grouping, add_matrix_parts, build_matrix, combine_matrix, matrix_part
from pipeline.outputs.report import run_statement, transcript_page, write_report_set
from pipeline.review.apply import apply_saved_reviews
from pipeline.review.log import LOG_NAME
from pipeline.workflows.partitions import (
    PartitionResult,
    SpilledPartition,
    TagCounts,
    coded_from_tables,
    partitions,
)
from pipeline.workflows.run_record import full_record
from pipeline.workflows.run_result import RunResult


def run_partitioned(
    coding: Iterator[PartitionResult],
    *,
    entries: Sequence[CatalogEntry],
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
    the partitions back one at a time, each partition's transcripts read from disk again (`entries`) for its pages.
    With a review log in `out`, reviews are applied to the whole tags table (decisions can name any transcript),
    so that run holds the tables and the transcripts whole."""
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
        chunks = [chunk for _, chunk in partitions(entries, partition_size)]
        review = None
        if reviewed:
            tags = pd.concat([s.tags() for s in spilled], ignore_index=True)
            segments = pd.concat([s.segments() for s in spilled], ignore_index=True)
            transcripts = read_again(entries)
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
            tables = ((read_again(chunk), s.tags(), s.segments()) for chunk, s in zip(chunks, spilled))
        record = full_record(
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
            for transcripts, tags, segments in tables
            for coded in coded_from_tables(transcripts, segments)
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
