"""Redaction: known names become role tags, common words survive, and every replacement is logged with the
offsets of the name in the original transcript file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import spacy

from pipeline.coding.table import TEXT, metadata_frame, read_tags
from pipeline.core.errors import QualcodeError
from pipeline.ingest.read import discover, problems
from pipeline.outputs.annex.redact import (
    SOURCE_LIST,
    SOURCE_METADATA,
    SOURCE_SPEAKER,
    KnownName,
    Redactor,
    is_personal_label,
    names_from_metadata,
    names_from_tags,
    names_from_transcripts,
    read_names_list,
    redact_tags,
    redactions_frame,
)

ANNEX = Path(__file__).resolve().parent / "fixtures" / "annex"


@pytest.fixture(scope="module")
def transcripts():
    found, skipped = discover(ANNEX / "transcripts")
    assert not problems(skipped)
    return found


@pytest.fixture(scope="module")
def fixture_redactor(transcripts):
    tags = read_tags(ANNEX / "tags.csv")
    known = [
        *names_from_metadata(metadata_frame(transcripts)),
        *names_from_tags(tags),
        *names_from_transcripts(transcripts),
        *read_names_list(ANNEX / "names.txt"),
    ]
    return Redactor(known, nlp=spacy.blank("en"))


@pytest.mark.parametrize(
    "label, personal",
    [
        ("Kari Nilsen", True),
        ("Dr. Mwale", True),
        ("Sindre Aune", True),
        ("GM", True),
        ("Interviewer", False),
        ("Interviewer 2", False),
        ("Respondent", False),
        ("Speaker 1", False),
        ("Unknown Speaker", False),
        ("Q", False),
        ("A", False),
        ("P3", False),
        ("Moderator", False),
        ("", False),
    ],
)
def test_personal_labels(label, personal):
    assert is_personal_label(label) is personal


NAMES = [
    KnownName("Asha Suleiman", SOURCE_METADATA, "t1"),
    KnownName("Khamis", SOURCE_METADATA, "t1"),
    KnownName("Kari Nilsen", SOURCE_SPEAKER, "t1", "interviewer"),
    KnownName("Even", SOURCE_METADATA, "t2"),
    KnownName("grace", f"{SOURCE_LIST} names.txt"),
]


@pytest.fixture(scope="module")
def names_redactor():
    return Redactor(NAMES)


@pytest.mark.parametrize(
    "text, transcript_id, expected",
    [
        ("Asha Suleiman is a nurse there.", "t1", "[colleague] is a nurse there."),
        ("Ask Asha, she knows.", "t1", "Ask [colleague], she knows."),  # first name alone when the full name is listed
        ("Then Suleiman said no.", "t1", "Then [colleague] said no."),
        ("you must go through Dr. Khamis first", "t1", "you must go through [colleague] first"),  # title goes with it
        ("ASHA SULEIMAN and asha suleiman", "t1", "[colleague] and [colleague]"),  # full names in any case
        ("Thank you, Kari.", "t1", "Thank you, [interviewer]."),  # the transcript's own speaker: a role tag
        ("Kari Nilsen visited us.", "t9", "[colleague] visited us."),  # elsewhere the same person is a colleague
        ("Even so, even Even came.", "t2", "[colleague] so, even [colleague] came."),  # exact case only
        ("Grace helped, by the grace of the matron.", "t1", "[colleague] helped, by the grace of the matron."),
        ("Khamis's ward and Asha's team", "t1", "[colleague]'s ward and [colleague]'s team"),
        ("No names here at all.", "t1", "No names here at all."),
    ],
)
def test_known_names_become_role_tags(names_redactor, text, transcript_id, expected):
    redacted, log = names_redactor.redact(text, transcript_id=transcript_id)
    assert redacted == expected
    assert len(log) == expected.count("[")


def test_log_has_offsets_original_and_source(names_redactor):
    text = "Later Dr. Khamis met Asha Suleiman."
    _, log = names_redactor.redact(text, transcript_id="t1", segment_id="t1:100-135", offset=100)
    assert [(r.original, r.replacement, r.source) for r in log] == [
        ("Dr. Khamis", "[colleague]", SOURCE_METADATA),
        ("Asha Suleiman", "[colleague]", SOURCE_METADATA),
    ]
    assert [(r.start_char, r.end_char) for r in log] == [(106, 116), (121, 134)]
    assert all(text[r.start_char - 100 : r.end_char - 100] == r.original for r in log)


def test_fixture_corpus_offsets_point_into_the_original_files(transcripts, fixture_redactor):
    tags = read_tags(ANNEX / "tags.csv")
    redacted, log = redact_tags(tags, fixture_redactor)
    text_of = {t.id: t.text for t in transcripts}
    assert log, "the fixture quotes name people"
    for entry in log:
        assert text_of[entry.transcript_id][entry.start_char : entry.end_char] == entry.original
    originals = {(r.transcript_id, r.original, r.replacement, r.source) for r in log}
    assert ("n1", "Kari Nilsen", "[interviewer]", SOURCE_SPEAKER) in originals  # n1's interviewer label
    assert ("n4", "Sindre", "[respondent]", SOURCE_SPEAKER) in originals  # n4's respondent label, first name
    assert ("n3", "Torunn", "[colleague]", f"{SOURCE_LIST} names.txt") in originals  # only in the user's list
    assert ("s1", "Dr. Khamis", "[colleague]", SOURCE_METADATA) in originals
    every_text = " ".join(redacted[TEXT])
    for name in ("Kari", "Nilsen", "Ingrid", "Per Arne", "Torunn", "Sindre", "Khamis", "Asha", "Chikondi"):
        assert name not in every_text
    assert "Sindre Aune" not in set(redacted["speaker"]) and "Kari Nilsen" not in set(redacted["speaker"])
    frame = redactions_frame(log)
    assert list(frame.columns) == [
        "transcript_id",
        "segment_id",
        "start_char",
        "end_char",
        "original",
        "replacement",
        "source",
    ]
    assert len(frame) == len(log)


def test_each_segment_is_redacted_once(fixture_redactor):
    tags = read_tags(ANNEX / "tags.csv")
    doubled = pd.concat([tags, tags.iloc[[0]].assign(theme="staff_rotation")], ignore_index=True)
    _, log = redact_tags(doubled, fixture_redactor)
    _, single = redact_tags(tags, fixture_redactor)
    assert len(log) == len(single)


def test_names_list_skips_comments_and_blank_lines(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("# people\n\nTorunn\n  Bi Zuhura  \n", encoding="utf-8")
    assert [k.name for k in read_names_list(path)] == ["Torunn", "Bi Zuhura"]
    assert Redactor(read_names_list(path)).redact("Ask Bi Zuhura or Zuhura.")[0] == "Ask [colleague] or [colleague]."


def test_names_list_errors_name_the_file(tmp_path):
    path = tmp_path / "names.txt"
    path.write_bytes(b"Torunn\nK\xe5re\n")
    with pytest.raises(QualcodeError) as caught:
        read_names_list(path)
    assert str(caught.value) == f"{path}:2: names list is not valid UTF-8"
    with pytest.raises(QualcodeError, match="cannot read names list"):
        read_names_list(tmp_path / "missing.txt")
