"""Segmenting: sentences within speaker turns, with offsets that slice the original file exactly."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest

from pipeline.coding.segment import parse_transcript
from pipeline.ingest.read import TRANSCRIPT_SUFFIXES, read_transcript
from pipeline.nlp.language import make_nlp

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_FILES = sorted(
    p for p in (Path(__file__).parent / "fixtures" / "transcripts").iterdir() if p.suffix in TRANSCRIPT_SUFFIXES
)
BUNDLED_FILES = sorted(p for p in (ROOT / "transcripts").iterdir() if p.suffix in TRANSCRIPT_SUFFIXES)


@pytest.fixture(scope="module")
def plain_nlp():
    return make_nlp()


def _segments(path: Path, nlp, unit: str = "sentence"):
    transcript = read_transcript(path)
    parsed = parse_transcript(transcript, nlp, unit=unit)
    return transcript, [piece.segment for piece in parsed.segments]


@pytest.mark.parametrize("path", FIXTURE_FILES + BUNDLED_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("unit", ["sentence", "turn"])
def test_offsets_slice_the_original_file(path, unit, plain_nlp):
    transcript, segments = _segments(path, plain_nlp, unit)
    original = path.read_bytes().decode(transcript.encoding)
    assert segments, "every fixture has speech"
    for segment in segments:
        assert original[segment.start_char : segment.end_char] == segment.text
        assert segment.text == segment.text.strip() and segment.text
        assert segment.segment_id == f"{transcript.id}:{segment.start_char}-{segment.end_char}"
        turn = transcript.turns[segment.turn_index]
        assert turn.start_char <= segment.start_char < segment.end_char <= turn.end_char
        assert (segment.speaker, segment.role) == (turn.speaker, turn.role)
    ids = [s.segment_id for s in segments]
    assert len(ids) == len(set(ids)), "segment ids are unique"


def test_docx_offsets_slice_the_extracted_text(tmp_path, plain_nlp):
    document = docx.Document()
    for line in [
        "Interview 3",
        "Interviewer: How long was the exchange?",
        "Respondent: Twelve months. It was long enough to learn the routines.",
        "And the team was kind.",
    ]:
        document.add_paragraph(line)
    path = tmp_path / "interview.docx"
    document.save(path)
    transcript, segments = _segments(path, plain_nlp)
    assert [s.text for s in segments if s.role == "respondent"] == [
        "Twelve months.",
        "It was long enough to learn the routines.",
        "And the team was kind.",
    ]
    for segment in segments:
        assert transcript.text[segment.start_char : segment.end_char] == segment.text


def test_sentences_and_turns(tmp_path, plain_nlp):
    path = tmp_path / "t.txt"
    path.write_text("Interviewer: Tell me.\n\nRespondent: First point. Second point!\nThird point?\n\nStill me.\n")
    _, sentences = _segments(path, plain_nlp)
    assert [s.text for s in sentences] == ["Tell me.", "First point.", "Second point!", "Third point?", "Still me."]
    _, turns = _segments(path, plain_nlp, "turn")
    assert [t.text for t in turns] == ["Tell me.", "First point. Second point!\nThird point?\n\nStill me."]


def test_annotations_stay_inside_one_segment(tmp_path, plain_nlp):
    path = tmp_path / "a.txt"
    path.write_text("Interviewer: It's Bergen. [laughs] So, as I said, shall we start? (pause) Good.\n")
    transcript, segments = _segments(path, plain_nlp)
    assert [s.text for s in segments] == ["It's Bergen. [laughs]", "So, as I said, shall we start? (pause)", "Good."]
    assert all(transcript.text[s.start_char : s.end_char] == s.text for s in segments)


def test_paragraph_break_ends_a_sentence(tmp_path, plain_nlp):
    path = tmp_path / "t.txt"
    path.write_text("Respondent: a line without a full stop\n\nanother paragraph here\n")
    _, segments = _segments(path, plain_nlp)
    assert [s.text for s in segments] == ["a line without a full stop", "another paragraph here"]


def test_segmenting_is_deterministic(plain_nlp):
    path = BUNDLED_FILES[0]
    assert _segments(path, plain_nlp)[1] == _segments(path, make_nlp())[1]


def test_unknown_spacy_model_is_a_clear_error():
    from pipeline.core.errors import QualcodeError

    with pytest.raises(QualcodeError, match="not installed"):
        make_nlp(spacy_model="xx_no_such_model_sm")
