"""A corpus coded in partitions: each partition of transcripts gives its tables and the small facts run.json
lists, so a run holds one partition's tables at a time, never the whole corpus's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from spacy.language import Language

from pipeline.codebook.model import Codebook
from pipeline.coding.corpus import CodedTranscript, CodingOptions, Tagger, build_nlp, code_corpus
from pipeline.coding.records import Segment
from pipeline.coding.table import (
    EVIDENCE,
    EVIDENCE_REASON,
    METHOD,
    SEGMENT_COLUMNS,
    THEME,
    TRANSCRIPT_ID,
    segments_frame,
    tags_frame,
)
from pipeline.ingest.records import Transcript


@dataclass(frozen=True)
class CodingJob:
    """Everything a worker needs to code any partition; sent to each worker once."""

    codebook: Codebook
    options: CodingOptions
    tagger: Tagger | None = None


@dataclass
class TagCounts:
    """The tag counts run.json reports, which add up over partitions."""

    tags: int = 0
    evidence: int = 0
    not_evidence_by_reason: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[str] = field(default_factory=Counter)  # every tag's evidence_reason ("" for evidence)
    evidence_by_theme: Counter[str] = field(default_factory=Counter)
    by_method: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, tags: pd.DataFrame) -> TagCounts:
        if not len(tags):
            return cls()
        evidence = tags[tags[EVIDENCE]]
        reasons = tags[EVIDENCE_REASON] if EVIDENCE_REASON in tags else pd.Series("", index=tags.index)
        return cls(
            tags=len(tags),
            evidence=len(evidence),
            not_evidence_by_reason=Counter(map(str, reasons[~tags[EVIDENCE]])),
            by_reason=Counter(map(str, reasons)),
            evidence_by_theme=Counter(map(str, evidence[THEME])),
            by_method=Counter(map(str, tags[METHOD])),
        )

    def __add__(self, other: TagCounts) -> TagCounts:
        return TagCounts(
            tags=self.tags + other.tags,
            evidence=self.evidence + other.evidence,
            not_evidence_by_reason=self.not_evidence_by_reason + other.not_evidence_by_reason,
            by_reason=self.by_reason + other.by_reason,
            evidence_by_theme=self.evidence_by_theme + other.evidence_by_theme,
            by_method=self.by_method + other.by_method,
        )


@dataclass
class PartitionResult:
    """What coding one partition gives back: its tags and segments tables, and per transcript its run.json entry
    and warnings."""

    index: int
    tags: pd.DataFrame
    segments: pd.DataFrame
    transcripts: list[dict[str, Any]]
    warnings: list[dict[str, str]]


def partitions(transcripts: Sequence[Transcript], size: int) -> Iterator[tuple[int, Sequence[Transcript]]]:
    """The transcripts in consecutive partitions of `size`, numbered from 0 (the order of the reports)."""
    for index, start in enumerate(range(0, len(transcripts), size)):
        yield index, transcripts[start : start + size]


def code_partition(job: CodingJob, index: int, transcripts: Sequence[Transcript]) -> PartitionResult:
    """Code one partition with this process's pipeline for the job (built once per process), in `nlp.pipe`
    batches as every run codes."""
    coded = list(
        code_corpus(transcripts, codebook=job.codebook, options=job.options, nlp=worker_nlp(job), tagger=job.tagger)
    )
    return PartitionResult(
        index=index,
        tags=tags_frame(tag for c in coded for tag in c.tags),
        segments=segments_frame(segment for c in coded for segment in c.segments),
        transcripts=[transcript_record(c) for c in coded],
        warnings=coded_warnings(coded),
    )


_pipelines: dict[tuple[str, CodingOptions], Language] = {}  # per process: a worker builds each pipeline once


def worker_nlp(job: CodingJob) -> Language:
    key = (job.codebook.hash, job.options)
    if key not in _pipelines:
        _pipelines.clear()  # one job at a time per process: do not keep an old codebook's pipeline
        _pipelines[key] = build_nlp(job.codebook, spacy_model=job.options.spacy_model)
    return _pipelines[key]


def coded_warnings(coded: Sequence[CodedTranscript]) -> list[dict[str, str]]:
    """run.json's warnings of coded transcripts: from reading, then from coding (a transcript cut in pieces)."""
    return [{"source": c.transcript.source, "message": w} for c in coded for w in [*c.transcript.warnings, *c.warnings]]


def transcript_record(coded: CodedTranscript) -> dict[str, Any]:
    """A transcript's entry in run.json: format, layout, speakers, and its segment and tag counts."""
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


@dataclass(frozen=True)
class SpilledPartition:
    """A partition's tables on disk as Parquet (in the run's parts folder beside the reports)."""

    index: int
    tags_path: Path
    segments_path: Path

    @classmethod
    def write(cls, result: PartitionResult, folder: Path) -> SpilledPartition:
        spilled = cls(
            index=result.index,
            tags_path=folder / f"part-{result.index:05d}.tags.parquet",
            segments_path=folder / f"part-{result.index:05d}.segments.parquet",
        )
        result.tags.to_parquet(spilled.tags_path, index=False)
        result.segments.to_parquet(spilled.segments_path, index=False)
        return spilled

    def tags(self) -> pd.DataFrame:
        return pd.read_parquet(self.tags_path)

    def segments(self) -> pd.DataFrame:
        return pd.read_parquet(self.segments_path)


def coded_from_tables(transcripts: Sequence[Transcript], segments: pd.DataFrame) -> Iterator[CodedTranscript]:
    """The partition's transcripts with their segments, rebuilt from its segments table (for the report pages)."""
    by_transcript = {tid: frame for tid, frame in segments.groupby(TRANSCRIPT_ID, sort=False)}
    for transcript in transcripts:
        rows = by_transcript.get(transcript.id)
        found = [] if rows is None else [Segment(**row) for row in rows[SEGMENT_COLUMNS].to_dict("records")]
        yield CodedTranscript(transcript=transcript, segments=found)
