"""Segmenting: sentences within speaker turns, with offsets that slice the original file exactly."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest

from pipeline.coding.corpus import CodingOptions, batches, code_batch, code_transcript
from pipeline.coding.segment import parse_parts, parse_transcript
from pipeline.ingest.read import TRANSCRIPT_SUFFIXES, read_transcript
from pipeline.nlp.language import make_nlp
from pipeline.workflows.run import run_project

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


def _long_interview(turns: int, *, paragraphs: int = 3) -> str:
    """An interview of `turns` question/answer pairs, each answer in paragraphs (blank lines between)."""
    answer = "\n\n".join(
        f"Paragraph {p} of this answer. We had a language barrier with the night staff. It got better."
        for p in range(paragraphs)
    )
    return "".join(f"Interviewer: Question {n}, how was it?\nRespondent: {answer}\n" for n in range(turns))


@pytest.mark.parametrize("path", [p for p in BUNDLED_FILES if p.name != "README.md"][:6], ids=lambda p: p.name)
def test_a_transcript_cut_only_between_turns_gives_the_same_segments_and_tags(path, minimal_nlp, minimal_codebook):
    transcript = read_transcript(path)
    longest = max(t.end_char - t.start_char for t in transcript.turns)
    whole = code_transcript(transcript, nlp=minimal_nlp, codebook=minimal_codebook)
    cut = code_transcript(
        transcript, nlp=minimal_nlp, codebook=minimal_codebook, options=CodingOptions(max_length=longest + 2)
    )
    assert cut.warnings and "pieces cut at turn boundaries" in cut.warnings[0]
    assert cut.segments == whole.segments and cut.tags == whole.tags


@pytest.mark.parametrize("unit", ["sentence", "turn"])
@pytest.mark.parametrize("limit", [300, 120, 45])
def test_turns_over_the_limit_are_cut_with_exact_offsets(unit, limit, minimal_nlp, tmp_path):
    path = tmp_path / "long.txt"
    path.write_text(_long_interview(3) + "Respondent: " + "word " * 40 + "\n", encoding="utf-8")
    transcript = read_transcript(path)
    parts, warnings = parse_parts(transcript, minimal_nlp, unit=unit, max_length=limit)
    assert len(parts) > 1 and warnings
    assert all(len(parsed.doc.text) <= limit for parsed in parts)
    segments = [piece.segment for parsed in parts for piece in parsed.segments]
    for segment in segments:
        assert transcript.text[segment.start_char : segment.end_char] == segment.text == segment.text.strip()
        turn = transcript.turns[segment.turn_index]
        assert turn.start_char <= segment.start_char < segment.end_char <= turn.end_char
    assert [s.start_char for s in segments] == sorted(s.start_char for s in segments)
    spoken = " ".join(transcript.text[t.start_char : t.end_char] for t in transcript.turns).split()
    assert " ".join(s.text for s in segments).split() == spoken  # nothing lost, nothing twice


def test_a_transcript_over_a_million_characters_is_coded_in_pieces(tmp_path):
    """spaCy refuses texts over nlp.max_length (1,000,000) with E088; such a transcript is coded in pieces.
    Long words keep it fast: about 50,000 tokens."""
    paragraph = " ".join(["Pneumonoultramicroscopic"] * 40) + "."
    answer = "\n\n".join([paragraph] * 3)
    text = "Respondent: First, there was a language barrier.\n"
    text += "".join(f"Interviewer: Question {n}?\nRespondent: {answer}\n" for n in range(400))
    text += "Respondent: At the very end there was a language problem again.\n"
    assert len(text) > 1_200_000
    folder = tmp_path / "transcripts"
    folder.mkdir()
    (folder / "huge.txt").write_text(text, encoding="utf-8")
    codebook = Path(__file__).parent / "fixtures" / "codebooks" / "minimal.yaml"
    result = run_project(transcripts_dir=folder, codebook_path=codebook, out=tmp_path / "reports")
    (coded,) = result.coded
    assert coded.warnings[0].startswith("speech of 1,") and "in 2 pieces cut at turn boundaries" in coded.warnings[0]
    assert {"source": "huge.txt", "message": coded.warnings[0]} in result.record["warnings"]
    assert [text[t.match_start : t.match_end] for t in coded.tags] == ["language barrier", "language problem"]
    assert coded.tags[-1].segment.text == "At the very end there was a language problem again."
    assert len(coded.segments) == 2 + 400 * 4
    for segment in coded.segments:
        assert text[segment.start_char : segment.end_char] == segment.text


@pytest.mark.parametrize("unit", ["sentence", "turn"])
@pytest.mark.parametrize("characters", [1, 5_000, 10**9], ids=["one-each", "a-few", "all-at-once"])
def test_coding_in_batches_gives_what_coding_one_by_one_gives(unit, characters, nlp, study_codebook):
    """Batches run the rulers' array programs and ConText over several docs at once: nothing may change, the
    ConText marks (negated, hypothetical, trigger) included."""
    transcripts = [read_transcript(path) for path in BUNDLED_FILES if path.name != "README.md"]
    options = CodingOptions(unit=unit, max_length=7_000)  # some transcripts in pieces too
    one_by_one = [code_transcript(t, nlp=nlp, codebook=study_codebook, options=options) for t in transcripts]
    batched = [
        coded
        for batch in batches(transcripts, characters=characters)
        for coded in code_batch(batch, nlp=nlp, codebook=study_codebook, options=options)
    ]
    assert [c.segments for c in batched] == [c.segments for c in one_by_one]
    assert [c.tags for c in batched] == [c.tags for c in one_by_one]
    assert [c.warnings for c in batched] == [c.warnings for c in one_by_one]
    tags = [tag for coded in batched for tag in coded.tags]
    assert any(tag.negated for tag in tags) and any(tag.hypothetical for tag in tags)
    assert any(coded.warnings for coded in batched)


@pytest.mark.parametrize("unit", ["sentence", "turn"])
@pytest.mark.parametrize("space", ["\xa0", "\t", "\u2009", "\u3000", "  ", " \n \n "], ids=repr)
def test_segments_are_stripped_of_any_whitespace(unit, space, plain_nlp, tmp_path):
    """Segment texts are their tokens' text stripped, whatever whitespace the transcriber left around sentences."""
    body = f"Respondent: {space}We had a barrier.{space} It{space}got better. {space}\n{space}[laughs]{space}\n"
    path = tmp_path / "spaces.txt"
    path.write_text(body + f"Interviewer:{space}Why?{space}\n", encoding="utf-8")
    transcript = read_transcript(path)
    segments = [piece.segment for piece in parse_transcript(transcript, plain_nlp, unit=unit).segments]
    assert segments
    for segment in segments:
        assert transcript.text[segment.start_char : segment.end_char] == segment.text == segment.text.strip()
    spoken = " ".join(transcript.text[t.start_char : t.end_char] for t in transcript.turns).split()
    assert " ".join(s.text for s in segments).split() == spoken


@pytest.mark.parametrize("path", FIXTURE_FILES + BUNDLED_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("unit", ["sentence", "turn"])
def test_segment_texts_are_their_tokens_text_stripped(path, unit, plain_nlp):
    """The texts cut from token starts alone are what the straightforward way gives: the tokens' Span text, stripped."""
    parsed = parse_transcript(read_transcript(path), plain_nlp, unit=unit)
    for piece in parsed.segments:
        span = parsed.doc[piece.token_start : piece.token_end]
        assert piece.segment.text == span.text.strip()
        assert piece.doc_char == span.start_char + len(span.text) - len(span.text.lstrip())
