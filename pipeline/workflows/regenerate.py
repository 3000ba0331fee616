"""Regenerate the matrix and reports from the last run's tags plus the review log, without re-coding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.coding.corpus import CodedTranscript
from pipeline.coding.records import Segment
from pipeline.coding.table import (
    END_CHAR,
    EVIDENCE,
    EVIDENCE_REASON,
    START_CHAR,
    THEME,
    TRANSCRIPT_ID,
    TURN_INDEX,
    metadata_frame,
)
from pipeline.core.errors import QualcodeError
from pipeline.core.files import output_lock, staged_set
from pipeline.outputs.matrix import FindingsMatrix, build_matrix
from pipeline.outputs.report import write_reports
from pipeline.review.apply import apply_saved_reviews
from pipeline.review.corpus import Corpus, load_corpus


def regenerate_reports(
    *, reports_dir: Path, transcripts_dir: Path, codebook_path: Path
) -> tuple[FindingsMatrix, dict[str, Any]]:
    """Rewrite the matrix and reports from the last run's tags plus the review log, without re-coding.

    Refuses (QualcodeError) when the codebook or a transcript changed since the run: then `qualcode run`.
    """
    with output_lock(reports_dir, purpose="qualcode regenerate"):
        return _regenerate(reports_dir=Path(reports_dir), transcripts_dir=transcripts_dir, codebook_path=codebook_path)


def _regenerate(
    *, reports_dir: Path, transcripts_dir: Path, codebook_path: Path
) -> tuple[FindingsMatrix, dict[str, Any]]:
    corpus = load_corpus(reports_dir=reports_dir, transcripts_dir=transcripts_dir, codebook_path=codebook_path)
    ran_with = corpus.run.get("codebook", {}).get("hash")
    if ran_with and ran_with != corpus.codebook.hash:
        raise QualcodeError("the codebook changed since the last run: run `qualcode run` instead", path=codebook_path)
    coded = _coded(corpus)
    by = corpus.run.get("options", {}).get("by", "side")
    metadata = metadata_frame([c.transcript for c in coded])
    tags, counts = apply_saved_reviews(
        Path(reports_dir),
        tags=corpus.tags,
        segments=corpus.segments,
        transcripts=corpus.transcripts,
        codebook=corpus.codebook,
    )
    matrix = build_matrix(
        tags,
        metadata,
        corpus.codebook,
        by=by if by in metadata.columns else "side",
        thresholds=corpus.run.get("classifier", {}).get("thresholds"),
    )
    evidence = tags[tags[EVIDENCE]]
    run = dict(corpus.run)
    run["counts"] = {
        **run.get("counts", {}),
        "tags": int(len(tags)),
        "evidence_tags": int(len(evidence)),
        "evidence_tags_by_theme": {k: int(v) for k, v in evidence[THEME].value_counts().sort_index().items()},
    }
    if "tagging" in run and EVIDENCE_REASON in tags:
        run["tagging"] = {
            **run["tagging"],
            "below_precision_bar_tags": int(tags[EVIDENCE_REASON].eq("below_precision_bar").sum()),
        }
    if counts is not None:
        run["review"] = counts
    with staged_set(reports_dir) as staging:
        write_reports(
            staging,
            coded=coded,
            tags=tags,
            segments=corpus.segments,
            metadata=metadata,
            matrix=matrix,
            codebook=corpus.codebook,
            run=run,
        )
    return matrix, run


def _coded(corpus: Corpus) -> list[CodedTranscript]:
    """The run's transcripts with their segments (from segments.csv), checked against the files' text."""
    by_transcript = {tid: frame for tid, frame in corpus.segments.groupby(TRANSCRIPT_ID, sort=False)}
    coded = []
    for transcript in corpus.transcripts:
        frame = by_transcript.get(transcript.id)
        if frame is None:
            continue
        segments = [
            Segment(
                **{
                    **row,
                    START_CHAR: int(row[START_CHAR]),
                    END_CHAR: int(row[END_CHAR]),
                    TURN_INDEX: int(row[TURN_INDEX]),
                }
            )
            for row in frame.to_dict("records")
        ]
        changed = next((s for s in segments if transcript.text[s.start_char : s.end_char] != s.text), None)
        if changed is not None:
            raise QualcodeError(
                f"the transcript changed since the last run (characters {changed.start_char}-"
                f"{changed.end_char}): run `qualcode run` instead",
                path=transcript.path,
            )
        coded.append(CodedTranscript(transcript=transcript, segments=segments))
    return coded
