"""Human codes (the gold standard): coder files read into one table, and segments labelled by overlap.

A coder file is a CSV, one coded span per row: `transcript_id, start_char, end_char, theme` (character
offsets into the transcript's text, end exclusive), or `segment_id, theme` with qualcode segment ids
(`<transcript_id>:<start>-<end>`). A qualcode tags.csv is accepted too: its evidence rows are the codes.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from pipeline.coding.table import (
    CODEBOOK_HASH,
    END_CHAR,
    EVIDENCE,
    METHOD,
    SEGMENT_ID,
    START_CHAR,
    TEXT,
    THEME,
    TRANSCRIPT_ID,
    read_tags,
)
from pipeline.core.errors import QualcodeError
from pipeline.core.files import read_utf8

CODER = "coder"
GOLD_COLUMNS = [CODER, TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME]
OPTIONAL_COLUMNS = (SEGMENT_ID, TEXT, "note")  # text and note are for the coder's eyes and are ignored
TAGS_MARKERS = {METHOD, EVIDENCE, CODEBOOK_HASH}
# Other names coders and tools give these columns (case-insensitive): read as qualcode's names.
COLUMN_ALIASES = {
    "code": THEME,
    "code_id": THEME,
    "theme_id": THEME,
    "transcript": TRANSCRIPT_ID,
    "document": TRANSCRIPT_ID,
    "document_id": TRANSCRIPT_ID,
    "doc_id": TRANSCRIPT_ID,
    "start": START_CHAR,
    "begin": START_CHAR,
    "start_offset": START_CHAR,
    "end": END_CHAR,
    "stop": END_CHAR,
    "end_offset": END_CHAR,
    "segment": SEGMENT_ID,
}
SEGMENT_ID_PATTERN = re.compile(r"^(?P<transcript>.+):(?P<start>\d+)-(?P<end>\d+)$")
MAX_OFFSET = 2**31 - 1  # no transcript has two thousand million characters; larger numbers are mistakes


def parse_segment_id(segment_id: str) -> tuple[str, int, int]:
    """(transcript_id, start_char, end_char) of a qualcode segment id; ValueError when it is not one."""
    match = SEGMENT_ID_PATTERN.match(segment_id.strip())
    if not match:
        raise ValueError(f"segment id {segment_id!r} is not <transcript_id>:<start>-<end>")
    return match["transcript"], int(match["start"]), int(match["end"])


def load_coder_file(path: Path) -> pd.DataFrame:
    """One coder's codes as GOLD_COLUMNS (+ segment_id, "" when not given); the coder is the file's stem.

    Raises QualcodeError naming the file (and line) for unknown or missing columns, bad offsets or ids.
    """
    path = Path(path)
    text = read_utf8(path, what="coder file", error=QualcodeError)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [_column(name) for name in next(reader)]
    except StopIteration:
        raise QualcodeError(
            "empty coder file: expected a header transcript_id,start_char,end_char,theme", path=path, line=1
        ) from None
    except csv.Error as exc:
        raise QualcodeError(f"malformed CSV: {exc}", path=path, line=1) from None
    if TAGS_MARKERS <= set(header):
        return _from_tags_table(path)
    _check_header(header, path)
    rows = []
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                raise QualcodeError(f"expected {len(header)} cells, found {len(record)}", path=path, line=line)
            rows.append(_gold_row(dict(zip(header, (cell.strip() for cell in record))), path=path, line=line))
    except csv.Error as exc:
        raise QualcodeError(f"malformed CSV: {exc}", path=path, line=reader.line_num) from None
    frame = pd.DataFrame(rows, columns=[*GOLD_COLUMNS, SEGMENT_ID])
    frame[CODER] = path.stem
    return _typed(frame)


def load_gold(folder: Path) -> pd.DataFrame:
    """Every coder file (*.csv) in `folder`, one table; each coder is named by its file's stem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise QualcodeError("gold folder (coder files) not found", path=folder)
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise QualcodeError("no coder files (*.csv) in the gold folder", path=folder)
    return _typed(pd.concat([load_coder_file(f) for f in files], ignore_index=True))


def unknown_themes(gold: pd.DataFrame, themes: Sequence[str]) -> list[str]:
    """Codes used by coders that the codebook does not define, sorted: to be listed, never silently dropped."""
    return sorted(set(gold[THEME]) - set(themes))


def segment_labels(
    segments: pd.DataFrame, gold: pd.DataFrame, *, themes: Sequence[str], coders: Sequence[str] | None = None
) -> pd.DataFrame:
    """Bool per theme for each segment: a coded span of the theme (by any of `coders`) overlaps it.

    Spans are half-open [start_char, end_char); they overlap when each starts before the other ends.
    """
    if coders is not None:
        missing = sorted(set(coders) - set(gold[CODER]))
        if missing:
            raise QualcodeError(f"unknown coder(s) {', '.join(missing)}; coders: {', '.join(sorted(set(gold[CODER])))}")
        gold = gold[gold[CODER].isin(list(coders))]
    labels = pd.DataFrame(False, index=pd.Index(segments[SEGMENT_ID], name=SEGMENT_ID), columns=list(themes))
    spans = gold[gold[THEME].isin(list(themes))][[TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME]]
    if spans.empty or segments.empty:
        return labels
    pairs = segments[[SEGMENT_ID, TRANSCRIPT_ID, START_CHAR, END_CHAR]].merge(
        spans, on=TRANSCRIPT_ID, suffixes=("", "_coded")
    )
    overlapping = pairs[
        (pairs[START_CHAR + "_coded"] < pairs[END_CHAR]) & (pairs[START_CHAR] < pairs[END_CHAR + "_coded"])
    ]
    for theme, hits in overlapping.groupby(THEME):
        labels.loc[hits[SEGMENT_ID].unique(), theme] = True
    return labels


def _column(name: str) -> str:
    """A header cell as qualcode's column name: trimmed, lowercased, aliases resolved ("Code" -> theme)."""
    key = name.strip().lower()
    return COLUMN_ALIASES.get(key, key)


def _check_header(header: list[str], path: Path) -> None:
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise QualcodeError(f"duplicate column(s): {', '.join(duplicates)}", path=path, line=1)
    known = {*GOLD_COLUMNS[1:], *OPTIONAL_COLUMNS}
    unknown = [name for name in header if name not in known]
    if unknown:
        raise QualcodeError(
            f"unknown column(s) {', '.join(map(repr, unknown))}; a coder file has transcript_id,start_char,end_char,"
            f"theme (or segment_id,theme) and optionally {', '.join(OPTIONAL_COLUMNS)}",
            path=path,
            line=1,
        )
    has_offsets = {TRANSCRIPT_ID, START_CHAR, END_CHAR} <= set(header)
    if THEME not in header or not (has_offsets or SEGMENT_ID in header):
        raise QualcodeError(
            "missing column(s): a coder file needs theme and either transcript_id,start_char,end_char or segment_id",
            path=path,
            line=1,
        )
    if {START_CHAR, END_CHAR} & set(header) and not has_offsets:
        raise QualcodeError(
            "missing column(s): offsets need all of transcript_id, start_char and end_char", path=path, line=1
        )


def _gold_row(cells: dict[str, str], *, path: Path, line: int) -> dict[str, object]:
    theme = cells.get(THEME, "")
    if not theme:
        raise QualcodeError("empty theme", path=path, line=line)
    segment_id = cells.get(SEGMENT_ID, "")
    parsed = None
    if segment_id:
        try:
            parsed = parse_segment_id(segment_id)
        except ValueError as exc:
            raise QualcodeError(str(exc), path=path, line=line) from None
    transcript_id = cells.get(TRANSCRIPT_ID, "")
    if cells.get(START_CHAR) or cells.get(END_CHAR) or parsed is None:
        if not transcript_id:
            raise QualcodeError("empty transcript_id", path=path, line=line)
        start, end = (_offset(cells.get(name, ""), name, path=path, line=line) for name in (START_CHAR, END_CHAR))
    else:
        start, end = parsed[1], parsed[2]
        transcript_id = transcript_id or parsed[0]
    if parsed is not None:
        for name, value in ((START_CHAR, parsed[1]), (END_CHAR, parsed[2])):
            _offset(str(value), f"segment_id {name}", path=path, line=line)
    if parsed is not None and parsed != (transcript_id, start, end):
        raise QualcodeError(
            f"segment_id {segment_id!r} disagrees with transcript_id/start_char/end_char", path=path, line=line
        )
    if start >= end:
        raise QualcodeError(f"start_char {start} is not before end_char {end}", path=path, line=line)
    return {
        CODER: "",
        TRANSCRIPT_ID: transcript_id,
        START_CHAR: start,
        END_CHAR: end,
        THEME: theme,
        SEGMENT_ID: segment_id,
    }


def _offset(value: str, name: str, *, path: Path, line: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise QualcodeError(f"{name} must be a whole number, not {value!r}", path=path, line=line) from None
    if number < 0:
        raise QualcodeError(f"{name} must not be negative ({number})", path=path, line=line)
    if number > MAX_OFFSET:
        raise QualcodeError(
            f"{name} {number} is larger than any transcript (at most {MAX_OFFSET:,})", path=path, line=line
        )
    return number


def check_spans_fit(gold: pd.DataFrame, lengths: Mapping[str, int]) -> None:
    """Every coded span of a transcript that is present ends within its text ({id: characters}); else an error
    naming the coder."""
    ends = gold[TRANSCRIPT_ID].map(dict(lengths))
    beyond = gold[ends.notna() & (gold[END_CHAR] > ends)]
    if len(beyond):
        row = beyond.iloc[0]
        more = f" (and {len(beyond) - 1} more)" if len(beyond) > 1 else ""
        raise QualcodeError(
            f"coder {row[CODER]!r} codes {row[TRANSCRIPT_ID]}:{row[START_CHAR]}-{row[END_CHAR]} ({row[THEME]}), "
            f"beyond the end of the transcript ({lengths[row[TRANSCRIPT_ID]]:,} characters){more}: "
            "offsets count characters of the transcript file as qualcode reads it"
        )


def _from_tags_table(path: Path) -> pd.DataFrame:
    """The evidence rows of a qualcode tags.csv, as codes of the coder named by the file's stem."""
    try:
        tags = read_tags(path)
    except (ValueError, pd.errors.ParserError) as exc:
        raise QualcodeError(f"cannot read tags table: {' '.join(str(exc).split())}", path=path) from None
    missing = [c for c in (SEGMENT_ID, TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME) if c not in tags.columns]
    if missing:
        raise QualcodeError(f"tags table lacks column(s) {', '.join(missing)}", path=path, line=1)
    evidence = tags[tags[EVIDENCE]]
    for index, row in evidence.iterrows():
        line = int(index) + 2
        start, end = (_offset(_whole(row[name]), name, path=path, line=line) for name in (START_CHAR, END_CHAR))
        if start >= end:
            raise QualcodeError(f"start_char {start} is not before end_char {end}", path=path, line=line)
    frame = evidence[[TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME, SEGMENT_ID]].copy()
    frame.insert(0, CODER, path.stem)
    return _typed(frame.reset_index(drop=True))


def _whole(value: object) -> str:
    """A number pandas read as text for _offset ("12", not "12.0", when a float column holds a whole number)."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[[*GOLD_COLUMNS, SEGMENT_ID]].copy()
    for column in (CODER, TRANSCRIPT_ID, THEME, SEGMENT_ID):
        frame[column] = frame[column].astype(str)
    for column in (START_CHAR, END_CHAR):
        frame[column] = frame[column].astype("int64")
    return frame
