"""The tidy tags table (one row per segment x theme), the stages' one exchange format, and its siblings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from pipeline.coding.records import Segment, Tag
from pipeline.core.columns import Column
from pipeline.core.files import atomic_write_text, neutralise_cell
from pipeline.ingest.records import Transcript

# The column names as plain strings (see core.columns.Column for why frames hold str, not members).
SEGMENT_ID = Column.SEGMENT_ID.value
TRANSCRIPT_ID = Column.TRANSCRIPT_ID.value
SOURCE = Column.SOURCE.value
SPEAKER = Column.SPEAKER.value
ROLE = Column.ROLE.value
TURN_INDEX = Column.TURN_INDEX.value
START_CHAR = Column.START_CHAR.value
END_CHAR = Column.END_CHAR.value
TEXT = Column.TEXT.value
THEME = Column.THEME.value
METHOD = Column.METHOD.value
RULE_ID = Column.RULE_ID.value
MATCHED = Column.MATCHED.value
MATCH_START = Column.MATCH_START.value
MATCH_END = Column.MATCH_END.value
SCORE = Column.SCORE.value
MODEL = Column.MODEL.value
NEGATED = Column.NEGATED.value
HYPOTHETICAL = Column.HYPOTHETICAL.value
TRIGGER = Column.TRIGGER.value
EVIDENCE = Column.EVIDENCE.value
CODEBOOK_VERSION = Column.CODEBOOK_VERSION.value
CODEBOOK_HASH = Column.CODEBOOK_HASH.value

SEGMENT_COLUMNS = [SEGMENT_ID, TRANSCRIPT_ID, SOURCE, SPEAKER, ROLE, TURN_INDEX, START_CHAR, END_CHAR, TEXT]
TAG_COLUMNS = [
    SEGMENT_ID,
    TRANSCRIPT_ID,
    SOURCE,
    SPEAKER,
    ROLE,
    START_CHAR,
    END_CHAR,
    TEXT,
    THEME,
    METHOD,
    RULE_ID,
    MATCHED,
    MATCH_START,
    MATCH_END,
    SCORE,
    MODEL,
    NEGATED,
    HYPOTHETICAL,
    TRIGGER,
    EVIDENCE,
    CODEBOOK_VERSION,
    CODEBOOK_HASH,
]
METADATA_ID = TRANSCRIPT_ID


def tags_frame(tags: Iterable[Tag]) -> pd.DataFrame:
    """The tags table; `evidence` is False for negated, hypothetical and interviewer tags."""
    rows = [
        {
            SEGMENT_ID: t.segment.segment_id,
            TRANSCRIPT_ID: t.segment.transcript_id,
            SOURCE: t.segment.source,
            SPEAKER: t.segment.speaker,
            ROLE: t.segment.role,
            START_CHAR: t.segment.start_char,
            END_CHAR: t.segment.end_char,
            TEXT: t.segment.text,
            THEME: t.theme,
            METHOD: t.method,
            RULE_ID: t.rule_id,
            MATCHED: t.matched,
            MATCH_START: t.match_start,
            MATCH_END: t.match_end,
            SCORE: t.score,
            MODEL: t.model,
            NEGATED: t.negated,
            HYPOTHETICAL: t.hypothetical,
            TRIGGER: t.trigger,
            EVIDENCE: t.counts_as_evidence,
            CODEBOOK_VERSION: t.codebook_version,
            CODEBOOK_HASH: t.codebook_hash,
        }
        for t in tags
    ]
    frame = pd.DataFrame(rows, columns=TAG_COLUMNS)
    for column in (MATCH_START, MATCH_END):
        frame[column] = frame[column].astype("Int64")
    frame[SCORE] = frame[SCORE].astype("float64")
    for column in (NEGATED, HYPOTHETICAL, EVIDENCE):
        frame[column] = frame[column].astype(bool)
    return frame


def segments_frame(segments: Iterable[Segment]) -> pd.DataFrame:
    """Every segment, tagged or not: what a classifier scores and a reviewer can tag by hand."""
    return pd.DataFrame([s.as_dict() for s in segments], columns=SEGMENT_COLUMNS)


def metadata_frame(transcripts: Sequence[Transcript]) -> pd.DataFrame:
    """One row per transcript: its id, source, format and metadata fields (stakeholder groups come from here)."""
    rows = []
    for transcript in transcripts:
        row = {TRANSCRIPT_ID: transcript.id, SOURCE: transcript.source, "format": transcript.format}
        for key, value in transcript.metadata.items():
            if key in ("id", "file", "speakers"):
                continue
            row[key] = "; ".join(map(str, value)) if isinstance(value, (list, tuple)) else value
        rows.append(row)
    return pd.DataFrame(rows)


def read_tags(path: str | Path) -> pd.DataFrame:
    """A tags table written by `write_csv`, with its types restored (ids and versions stay text: "001", "1.10")."""
    text_columns = [
        SEGMENT_ID,
        TRANSCRIPT_ID,
        SOURCE,
        SPEAKER,
        ROLE,
        TEXT,
        THEME,
        METHOD,
        RULE_ID,
        MATCHED,
        TRIGGER,
        MODEL,
        CODEBOOK_VERSION,
        CODEBOOK_HASH,
    ]
    frame = pd.read_csv(
        path,
        dtype={column: str for column in text_columns},
        keep_default_na=False,
        na_values={SCORE: [""], MATCH_START: [""], MATCH_END: [""]},
    )
    for column in (NEGATED, HYPOTHETICAL, EVIDENCE):
        if column in frame:
            frame[column] = frame[column].astype(str).str.lower().eq("true")
    for column in (TEXT, MATCHED, RULE_ID, TRIGGER, SPEAKER):
        if column in frame:
            frame[column] = frame[column].astype(str).str.replace(r"^'(?=[=+\-@\t\r])", "", regex=True)
    return frame


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells cannot run as spreadsheet formulas."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise_cell)
    return safe


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """CSV with formula-like text cells neutralised, written atomically."""
    return atomic_write_text(path, neutralise_frame(frame).to_csv(index=False))
