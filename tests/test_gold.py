"""Coder files (offsets, segment ids, a qualcode tags.csv), their errors, and labelling segments by overlap."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.codebook.load import load_codebook
from pipeline.coding.corpus import code_corpus
from pipeline.coding.table import segments_frame, tags_frame, write_csv
from pipeline.core.errors import QualcodeError
from pipeline.ingest.read import discover
from pipeline.measure.coder_files import (
    GOLD_COLUMNS,
    check_spans_fit,
    load_coder_file,
    load_gold,
    segment_labels,
    unknown_themes,
)

CLASSIFY = Path(__file__).resolve().parent / "fixtures" / "classify"


def test_offsets_file_is_read_with_the_coder_named_by_the_file():
    gold = load_coder_file(CLASSIFY / "coded" / "alice.csv")
    assert list(gold.columns[:5]) == GOLD_COLUMNS
    assert set(gold["coder"]) == {"alice"}
    assert len(gold) == 15
    first = gold.iloc[0]
    assert (first.transcript_id, first.start_char, first.end_char, first.theme) == (
        "a_nurse",
        98,
        169,
        "language_barrier",
    )
    assert gold["start_char"].dtype == "int64"


def test_segment_ids_give_offsets_and_the_text_column_is_ignored():
    gold = load_coder_file(CLASSIFY / "coded" / "bob.csv")
    row = gold[gold["segment_id"] == "c_engineer:58-116"].iloc[0]
    assert (row.coder, row.transcript_id, row.start_char, row.end_char, row.theme) == (
        "bob",
        "c_engineer",
        58,
        116,
        "language_barrier",
    )
    assert "text" not in gold.columns


def test_a_qualcode_tags_table_counts_its_evidence_rows(tmp_path: Path):
    transcripts, _ = discover(CLASSIFY / "transcripts")
    coded = list(code_corpus(transcripts, codebook=load_codebook(CLASSIFY / "codebook.yaml")))
    tags = tags_frame(t for c in coded for t in c.tags)
    assert (~tags["evidence"]).any() and tags["evidence"].any(), "fixture needs evidence and non-evidence tags"
    write_csv(tags, tmp_path / "machine.csv")
    gold = load_coder_file(tmp_path / "machine.csv")
    evidence = tags[tags["evidence"]]
    assert set(gold["coder"]) == {"machine"}
    assert sorted(gold["segment_id"]) == sorted(evidence["segment_id"])
    assert (
        gold[["start_char", "end_char"]].to_numpy().tolist() == evidence[["start_char", "end_char"]].to_numpy().tolist()
    )


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("transcript_id,start_char,end_char,theme,coder_note\na,1,2,x\n", 1, "unknown column"),
        ("transcript_id,start_char,theme\na,1,x\n", 1, "missing column"),
        ("theme,note\nx,hi\n", 1, "missing column"),
        ("transcript_id,start_char,end_char,theme\na,1,5,x\na,one,9,x\n", 3, "start_char must be a whole number"),
        ("transcript_id,start_char,end_char,theme\na,-3,5,x\n", 2, "must not be negative"),
        ("transcript_id,start_char,end_char,theme\na,9,5,x\n", 2, "not before end_char"),
        ("transcript_id,start_char,end_char,theme\na,1,5,\n", 2, "empty theme"),
        ("transcript_id,start_char,end_char,theme\n,1,5,x\n", 2, "empty transcript_id"),
        ("transcript_id,start_char,end_char,theme\na,1,5\n", 2, "expected 4 cells"),
        ("segment_id,theme\n\nnot-an-id,x\n", 3, "is not <transcript_id>:<start>-<end>"),
        ("segment_id,transcript_id,start_char,end_char,theme\na:1-5,a,1,6,x\n", 2, "disagrees"),
        ("transcript_id,start_char,end_char,theme,theme\na,1,5,x,y\n", 1, "duplicate column"),
        ("", 1, "empty coder file"),
        ("transcript_id,start_char,end_char,theme\na,1,99999999999999999999,x\n", 2, "larger than any transcript"),
        ("transcript_id,start_char,end_char,theme\na,1,9223372036854775808,x\n", 2, "larger than any transcript"),
        ("segment_id,theme\na:1-99999999999999999999,x\n", 2, "larger than any transcript"),
        ("transcript_id,start_char,end_char,theme\na,1.5,3,x\n", 2, "start_char must be a whole number"),
    ],
)
def test_bad_coder_files_name_file_and_line(tmp_path: Path, content: str, line: int, message: str):
    path = tmp_path / "carol.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(QualcodeError) as caught:
        load_coder_file(path)
    assert caught.value.path == str(path)
    assert caught.value.line == line
    assert message in caught.value.message
    assert str(caught.value).startswith(f"{path}:{line}: ")


def test_blank_lines_and_a_bom_are_accepted(tmp_path: Path):
    path = tmp_path / "dana.csv"
    path.write_bytes("\ufefftranscript_id,start_char,end_char,theme\n\na , 1 , 5 , x \n\n".encode("utf-8"))
    gold = load_coder_file(path)
    assert gold[["transcript_id", "start_char", "end_char", "theme"]].values.tolist() == [["a", 1, 5, "x"]]


def test_load_gold_reads_every_coder_and_lists_unknown_codes():
    gold = load_gold(CLASSIFY / "coded")
    assert set(gold["coder"]) == {"alice", "bob"}
    codebook = load_codebook(CLASSIFY / "codebook.yaml")
    assert unknown_themes(gold, codebook.theme_ids) == ["career_growth"]


@pytest.mark.parametrize("make", [lambda tmp: tmp / "absent", lambda tmp: tmp])
def test_load_gold_needs_a_folder_with_coder_files(tmp_path: Path, make):
    with pytest.raises(QualcodeError) as caught:
        load_gold(make(tmp_path))
    assert caught.value.path == str(make(tmp_path))


def _segments(*spans: tuple[str, int, int]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"segment_id": f"{t}:{s}-{e}", "transcript_id": t, "start_char": s, "end_char": e} for t, s, e in spans]
    )


def _gold(*rows: tuple[str, str, int, int, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=GOLD_COLUMNS)


def test_overlap_labels_half_open_spans_per_transcript():
    segments = _segments(("a", 0, 10), ("a", 10, 20), ("a", 20, 30), ("b", 0, 10))
    gold = _gold(
        ("ann", "a", 5, 10, "x"),  # inside the first segment, ends where the second starts
        ("ann", "a", 19, 21, "y"),  # straddles the second and third
        ("ann", "b", 30, 40, "x"),  # same transcript b, but after its segment
        ("ann", "c", 0, 100, "x"),  # another transcript entirely
        ("ann", "a", 0, 30, "z"),  # not a theme asked for
    )
    labels = segment_labels(segments, gold, themes=["x", "y"])
    assert labels.index.tolist() == segments["segment_id"].tolist()
    assert labels.to_dict("list") == {"x": [True, False, False, False], "y": [False, True, True, False]}


def test_overlap_labels_can_be_restricted_to_coders():
    segments = _segments(("a", 0, 10), ("a", 10, 20))
    gold = _gold(("ann", "a", 0, 5, "x"), ("ben", "a", 12, 14, "x"))
    assert segment_labels(segments, gold, themes=["x"], coders=["ben"])["x"].tolist() == [False, True]
    assert segment_labels(segments, gold, themes=["x"])["x"].tolist() == [True, True]
    with pytest.raises(QualcodeError, match="unknown coder"):
        segment_labels(segments, gold, themes=["x"], coders=["zoe"])


def test_fixture_coding_labels_the_segments_a_coder_marked():
    codebook = load_codebook(CLASSIFY / "codebook.yaml")
    transcripts, _ = discover(CLASSIFY / "transcripts")
    segments = segments_frame(s for c in code_corpus(transcripts, codebook=codebook) for s in c.segments)
    labels = segment_labels(segments, load_gold(CLASSIFY / "coded"), themes=codebook.theme_ids, coders=["alice"])
    # alice's span a_nurse 170-269 covers two sentences; her b_teacher 58-205 covers three
    assert labels.loc[["a_nurse:170-216", "a_nurse:217-269"], "mentor_support"].all()
    assert labels.loc[["b_teacher:58-119", "b_teacher:120-161", "b_teacher:162-205"], "generic_tasks"].all()
    assert not labels.loc["b_teacher:206-251"].any()
    assert labels.sum().to_dict() == {"language_barrier": 6, "generic_tasks": 8, "mentor_support": 10, "budget_cuts": 1}


def test_common_column_names_are_understood(tmp_path):
    path = tmp_path / "maria.csv"
    path.write_text("Document,Start,End,Code\nt1,0,10,language_barrier\n")
    frame = load_coder_file(path)
    assert frame[["coder", "transcript_id", "start_char", "end_char", "theme"]].values.tolist() == [
        ["maria", "t1", 0, 10, "language_barrier"]
    ]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("9", "5", "not before end_char"),
        ("-3", "5", "must not be negative"),
        ("1", "1e30", "whole number"),
        ("1", "2.5", "whole number"),
        ("1", "99999999999999999999", "larger than any transcript"),
        ("x", "5", "whole number"),
    ],
)
def test_a_tags_table_with_bad_offsets_names_its_line(tmp_path: Path, start: str, end: str, message: str):
    header = "segment_id,transcript_id,start_char,end_char,theme,method,evidence,codebook_hash"
    path = tmp_path / "machine.csv"
    path.write_text(f"{header}\na:1-5,a,1,5,x,rule,True,h\na:1-5,a,{start},{end},x,rule,True,h\n", encoding="utf-8")
    with pytest.raises(QualcodeError) as caught:
        load_coder_file(path)
    assert (caught.value.path, caught.value.line) == (str(path), 3) and message in caught.value.message


def test_spans_beyond_the_end_of_a_transcript_are_refused():
    gold = load_coder_file(CLASSIFY / "coded" / "alice.csv")
    lengths = {t.id: len(t.text) for t in discover(CLASSIFY / "transcripts")[0]}
    check_spans_fit(gold, lengths)  # the fixture fits
    first = gold.iloc[0]
    short = {**lengths, first.transcript_id: first.end_char - 1}
    with pytest.raises(QualcodeError, match=rf"coder 'alice' codes {first.transcript_id}:.*beyond the end"):
        check_spans_fit(gold, short)
