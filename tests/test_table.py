"""The tags table: columns, evidence, and safe CSV output."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from pipeline.coding.records import Segment, Tag
from pipeline.coding.table import (
    TAG_COLUMNS,
    metadata_frame,
    read_table,
    read_tags,
    segments_frame,
    tags_frame,
    write_csv,
)
from pipeline.core.files import atomic_write_text, neutralise_cell
from pipeline.ingest.records import Transcript

REQUIRED = [
    "segment_id",
    "transcript_id",
    "source",
    "speaker",
    "start_char",
    "end_char",
    "text",
    "theme",
    "method",
    "rule_id",
    "score",
    "negated",
    "hypothetical",
    "codebook_version",
]


def _tag(text: str, **kwargs) -> Tag:
    segment = Segment("t:0-5", "t", "sub/t.txt", "Respondent", kwargs.pop("role", "respondent"), 0, 0, len(text), text)
    return Tag(segment, "language_barrier", "rule", "1.0.0", "abc", rule_id="lb.x", **kwargs)


def test_columns_and_evidence():
    frame = tags_frame(
        [_tag("ok"), _tag("no", negated=True), _tag("if", hypothetical=True), _tag("q?", role="interviewer")]
    )
    assert set(REQUIRED) <= set(TAG_COLUMNS) and list(frame.columns) == TAG_COLUMNS
    assert frame["evidence"].tolist() == [True, False, False, False]
    assert frame["source"].iloc[0] == "sub/t.txt"


def test_formula_cells_neutralised_and_read_back(tmp_path):
    texts = ['=HYPERLINK("http://x")', "+1", "-2 worse", "@SUM(A1)", "plain"]
    path = write_csv(tags_frame([_tag(t) for t in texts]), tmp_path / "tags.csv")
    with path.open(newline="") as stream:
        cells = [row["text"] for row in csv.DictReader(stream)]
    assert cells == ['\'=HYPERLINK("http://x")', "'+1", "'-2 worse", "'@SUM(A1)", "plain"]
    assert read_tags(path)["text"].tolist() == texts
    assert neutralise_cell(-3) == -3


@pytest.mark.parametrize(
    "tags",
    [
        [],
        [_tag("rule", match_start=0, match_end=4)],
        [_tag("model", score=0.75), _tag("rule", match_start=2, match_end=5)],  # a score and offsets missing
        [_tag("a", score=0.5, match_start=None), _tag("b", score=0.25, match_start=1, match_end=3)],
    ],
    ids=["empty", "rule", "model-and-rule", "partly-missing"],
)
def test_columns_keep_their_types_whatever_is_missing(tags):
    """Offsets are nullable integers, scores floats, flags bools, whichever tags hold a value."""
    frame = tags_frame(tags)
    types = frame.dtypes.astype(str).to_dict()
    assert [types[c] for c in ("match_start", "match_end", "score")] == ["Int64", "Int64", "float64"]
    assert [types[c] for c in ("negated", "hypothetical", "evidence")] == ["bool"] * 3
    assert all(pd.api.types.is_string_dtype(frame[c]) for c in ("segment_id", "text", "rule_id", "trigger"))
    assert frame["match_start"].tolist() == [t.match_start if t.match_start is not None else pd.NA for t in tags]
    assert frame["score"].fillna(-1).tolist() == [t.score if t.score is not None else -1 for t in tags]
    assert frame["text"].tolist() == [t.segment.text for t in tags]


def test_empty_table_has_columns(tmp_path):
    frame = tags_frame([])
    assert list(frame.columns) == TAG_COLUMNS and frame.empty
    assert read_tags(write_csv(frame, tmp_path / "t.csv")).empty


def test_atomic_write_leaves_no_temporary(tmp_path):
    atomic_write_text(tmp_path / "out" / "a.txt", "one")
    atomic_write_text(tmp_path / "out" / "a.txt", "two")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.txt"]
    assert (tmp_path / "out" / "a.txt").read_text() == "two"


def test_ids_and_versions_stay_text(tmp_path):
    segment = Segment("001:0-2", "001", "001.txt", "R", "respondent", 0, 0, 2, "ok")
    tag = Tag(segment, "language_barrier", "rule", "1.10", "00ab", rule_id="lb.x")
    frame = read_tags(write_csv(tags_frame([tag]), tmp_path / "tags.csv"))
    assert frame.loc[0, ["transcript_id", "codebook_version", "codebook_hash"]].tolist() == ["001", "1.10", "00ab"]


def test_written_files_are_readable_by_others(tmp_path):
    path = atomic_write_text(tmp_path / "report.html", "x")
    assert path.stat().st_mode & 0o777 == 0o644
    path.chmod(0o600)
    assert atomic_write_text(path, "y").stat().st_mode & 0o777 == 0o600  # an existing file keeps its mode


@pytest.mark.parametrize("transcript_id", ["01", "1e5", "-01", "1.0", "nan", "True"])
def test_every_table_reads_ids_back_as_written(transcript_id, tmp_path):
    segment = Segment(f"{transcript_id}:0-2", transcript_id, f"{transcript_id}.txt", "7", "respondent", 0, 0, 2, "ok")
    transcript = Transcript(transcript_id, f"{transcript_id}.txt", tmp_path, "txt", "utf-8", "ok")
    tables = {
        "tags": tags_frame([Tag(segment, "language_barrier", "rule", "1.10", "00ab", rule_id="lb.x")]),
        "segments": segments_frame([segment]),
        "metadata": metadata_frame([transcript]),
    }
    for name, frame in tables.items():
        read = read_table(write_csv(frame, tmp_path / f"{name}.csv"))
        assert read.loc[0, "transcript_id"] == transcript_id, name
        assert read.loc[0, "source"] == f"{transcript_id}.txt", name
    segments = read_table(tmp_path / "segments.csv")
    assert segments.loc[0, "segment_id"] == f"{transcript_id}:0-2" and segments.loc[0, "speaker"] == "7"
    assert segments["start_char"].dtype == "int64" and segments["turn_index"].dtype == "int64"


def test_an_offset_that_is_not_a_whole_number_stays_text_for_the_caller_to_report(tmp_path):
    path = tmp_path / "tags.csv"
    path.write_text("transcript_id,start_char,end_char,score\na,1,5,0.5\nb,one,9,\n", encoding="utf-8")
    frame = read_table(path)
    assert frame["start_char"].tolist() == ["1", "one"] and frame["end_char"].tolist() == [5, 9]
    assert frame["score"].iloc[0] == 0.5 and frame["score"].isna().iloc[1]
