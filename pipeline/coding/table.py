"""The tidy tags table (one row per segment x theme), the stages' one exchange format, and its siblings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from pipeline.coding.records import Segment, Tag
from pipeline.core.columns import Column
from pipeline.core.files import atomic_write_text, neutralise_cell
from pipeline.ingest.records import CatalogEntry, Transcript

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
EVIDENCE_REASON = Column.EVIDENCE_REASON.value
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
    EVIDENCE_REASON,
    CODEBOOK_VERSION,
    CODEBOOK_HASH,
]
METADATA_ID = TRANSCRIPT_ID


def tags_frame(tags: Iterable[Tag]) -> pd.DataFrame:
    """The tags table; `evidence` is False for negated, hypothetical, interviewer and below-bar tags, and
    `evidence_reason` says which."""
    tags = list(tags)
    segments = [t.segment for t in tags]
    # column by column (pandas infers each column's type from one list): a third of the time rows of dicts take
    columns = {
        SEGMENT_ID: [s.segment_id for s in segments],
        TRANSCRIPT_ID: [s.transcript_id for s in segments],
        SOURCE: [s.source for s in segments],
        SPEAKER: [s.speaker for s in segments],
        ROLE: [s.role for s in segments],
        START_CHAR: [s.start_char for s in segments],
        END_CHAR: [s.end_char for s in segments],
        TEXT: [s.text for s in segments],
        THEME: [t.theme for t in tags],
        METHOD: [t.method for t in tags],
        RULE_ID: [t.rule_id for t in tags],
        MATCHED: [t.matched for t in tags],
        MATCH_START: [t.match_start for t in tags],
        MATCH_END: [t.match_end for t in tags],
        SCORE: [t.score for t in tags],
        MODEL: [t.model for t in tags],
        NEGATED: [t.negated for t in tags],
        HYPOTHETICAL: [t.hypothetical for t in tags],
        TRIGGER: [t.trigger for t in tags],
        EVIDENCE: [t.counts_as_evidence for t in tags],
        EVIDENCE_REASON: [t.evidence_reason for t in tags],
        CODEBOOK_VERSION: [t.codebook_version for t in tags],
        CODEBOOK_HASH: [t.codebook_hash for t in tags],
    }
    frame = pd.DataFrame(columns if tags else [], columns=TAG_COLUMNS)  # no rows: pandas would guess float columns
    for column in (MATCH_START, MATCH_END):
        frame[column] = frame[column].astype("Int64")
    frame[SCORE] = frame[SCORE].astype("float64")
    for column in (NEGATED, HYPOTHETICAL, EVIDENCE):
        frame[column] = frame[column].astype(bool)
    return frame


def segments_frame(segments: Iterable[Segment]) -> pd.DataFrame:
    """Every segment, tagged or not: what a classifier scores and a reviewer can tag by hand."""
    return pd.DataFrame([s.as_dict() for s in segments], columns=SEGMENT_COLUMNS)


def metadata_frame(transcripts: Sequence[Transcript | CatalogEntry]) -> pd.DataFrame:
    """One row per transcript (as read, or its catalog entry): its id, source, format and metadata fields
    (stakeholder groups come from here)."""
    rows = []
    for transcript in transcripts:
        row = {TRANSCRIPT_ID: transcript.id, SOURCE: transcript.source, "format": transcript.format}
        for key, value in transcript.metadata.items():
            if key in ("id", "file", "speakers"):
                continue
            row[key] = "; ".join(map(str, value)) if isinstance(value, (list, tuple)) else value
        rows.append(row)
    return pd.DataFrame(rows)


INTEGER_COLUMNS = (START_CHAR, END_CHAR, "turn_index")
NULLABLE_INTEGER_COLUMNS = (MATCH_START, MATCH_END, "decision_id")
FLOAT_COLUMNS = (SCORE,)
FLAG_COLUMNS = (NEGATED, HYPOTHETICAL, EVIDENCE, "machine_evidence")
FORMULA_GUARD = r"^'(?=[=+\-@\t\r])"  # the apostrophe `neutralise_cell` put before a formula-like cell


def read_table(path: str | Path) -> pd.DataFrame:
    """A table qualcode wrote (tags, segments, metadata, matrix), the one way every stage reads them back.

    Every cell is read as text, so ids stay as written ("01", "001", "1e5") and versions too ("1.10");
    the formula guard is undone; only the known offset, score and flag columns are typed. An offset
    column with a cell that is not a whole number (or beyond int64) stays text, for the caller to report with its line.
    """
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in frame.columns:
        frame[column] = frame[column].str.replace(FORMULA_GUARD, "", regex=True)
    for column in (*INTEGER_COLUMNS, *NULLABLE_INTEGER_COLUMNS):
        if column in frame:
            numbers = pd.to_numeric(frame[column].replace("", None), errors="coerce")
            blank = frame[column].eq("")
            whole = not (numbers.isna() & ~blank).any() and not (numbers.dropna() % 1).any()
            whole = whole and bool(numbers.dropna().abs().lt(2**63).all())  # else int64 would wrap round silently
            if whole and (column in NULLABLE_INTEGER_COLUMNS or not blank.any()):
                frame[column] = numbers.astype("Int64" if column in NULLABLE_INTEGER_COLUMNS else "int64")
    for column in FLOAT_COLUMNS:
        if column in frame:
            frame[column] = pd.to_numeric(frame[column].replace("", None), errors="coerce").astype("float64")
    for column in FLAG_COLUMNS:
        if column in frame:
            frame[column] = frame[column].str.lower().eq("true")
    return frame


def read_tags(path: str | Path) -> pd.DataFrame:
    """A tags table written by `write_csv` (`read_table`: ids and versions stay text, "001" and "1.10")."""
    return read_table(path)


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
