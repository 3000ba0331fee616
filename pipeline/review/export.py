"""Write a reviewer's decisions as a coder file."""

from __future__ import annotations

from pathlib import Path

from pipeline.coding.table import (
    write_csv,
)
from pipeline.core.errors import QualcodeError
from pipeline.review.apply import coder_frame
from pipeline.review.corpus import load_corpus
from pipeline.review.log import LOG_NAME, derive_state, read_log


def export_coder_file(
    *, reviewer: str, out: Path, reports_dir: Path, transcripts_dir: Path, codebook_path: Path
) -> tuple[Path, int, int]:
    """Write one reviewer's current codes as a coder file for `qualcode agree`; (path, codes, stale skipped)."""
    log = Path(reports_dir) / LOG_NAME
    if not log.exists():
        raise QualcodeError("no review log: review tags with `qualcode review` first", path=log)
    corpus = load_corpus(reports_dir=reports_dir, transcripts_dir=transcripts_dir, codebook_path=codebook_path)
    decisions = read_log(log)
    if reviewer not in set(decisions["reviewer"]):
        known = ", ".join(sorted(set(decisions["reviewer"]))) or "none"
        raise QualcodeError(f"no decisions by reviewer {reviewer!r} (reviewers: {known})", path=log)
    state = derive_state(
        decisions, segments=corpus.segments, texts=corpus.texts, theme_ids=corpus.codebook.theme_ids, reviewer=reviewer
    )
    codes = coder_frame(state)
    path = write_csv(codes, out)
    return path, len(codes), len(state.stale)
