"""A finished run as the review app and regeneration read it back: tags, segments, transcripts, codebook."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.codebook.load import load_codebook
from pipeline.codebook.model import Codebook
from pipeline.coding.table import SEGMENT_COLUMNS, read_table, read_tags
from pipeline.core.errors import QualcodeError
from pipeline.core.files import settle_reports
from pipeline.ingest.read import read_folder
from pipeline.ingest.records import Transcript
from pipeline.review.apply import machine_tags, transcript_texts


@dataclass(frozen=True)
class Corpus:
    """A finished run as the review app and regeneration need it: tags, segments, transcripts, codebook."""

    codebook: Codebook
    transcripts: list[Transcript]
    tags: pd.DataFrame
    segments: pd.DataFrame
    run: dict[str, Any]

    @property
    def texts(self) -> dict[str, str]:
        return transcript_texts(self.transcripts)


def load_corpus(*, reports_dir: Path, transcripts_dir: Path, codebook_path: Path) -> Corpus:
    """Read the reports of the last `qualcode run` (machine tags, segments, run.json) and the transcripts."""
    reports_dir = Path(reports_dir)
    settle_reports(reports_dir)
    needed = [reports_dir / name for name in ("tags.csv", "segments.csv", "run.json")]
    missing = [p for p in needed if not p.exists()]
    if missing:
        raise QualcodeError("no finished run here: run `qualcode run` first", path=missing[0])
    codebook = load_codebook(codebook_path)
    transcripts, _ = read_folder(transcripts_dir, allow_empty=True)
    segments = read_table(reports_dir / "segments.csv").reindex(columns=SEGMENT_COLUMNS)
    try:
        run = json.loads((reports_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise QualcodeError(f"cannot read run record: {exc}", path=reports_dir / "run.json") from exc
    return Corpus(
        codebook=codebook,
        transcripts=transcripts,
        tags=machine_tags(read_tags(reports_dir / "tags.csv")),
        segments=segments,
        run=run,
    )
