"""The bundled codebook's rules on interview sentences: asserted, negated, hypothetical, interviewer, near miss.

Each case is one line of a transcript; the expectations name the themes a user relies on, each with the
status its tag must have: `evidence` (counted), `negated` or `hypothetical` (kept, not counted), `none`
(no evidence tag for that theme). Digressions must produce no evidence at all.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from pathlib import Path

import pytest
from spacy.tokens import Span

from pipeline.coding.corpus import CodingOptions, code_transcript
from pipeline.coding.records import Segment
from pipeline.coding.rules import SPANS_KEY, _context_flags, _flag_reader, _text
from pipeline.coding.segment import SegmentSpan, parse_transcript
from pipeline.core.choices import Unit
from pipeline.ingest.read import read_transcript

ROOT = Path(__file__).resolve().parent.parent
E, NEG, HYP, NONE = "evidence", "negated", "hypothetical", "none"

CASES = [
    # language barrier
    ("Respondent: The language barrier was the biggest problem for me in Bergen.", {"language_barrier": E}),
    (
        "Respondent: I could not speak Norwegian, so I only observed.",
        {"language_barrier": E, "licensing_patient_access": E},
    ),
    ("Respondent: We never had a language problem in the ward.", {"language_barrier": NEG}),
    ("Respondent: Language was never really a problem for us.", {"language_barrier": NONE}),
    ("Respondent: If I had not spoken Norwegian, it would have been a language barrier.", {"language_barrier": NONE}),
    ("Respondent: I speak English at home with my children.", {"language_barrier": NONE}),  # near miss
    ("Respondent: There was no doubt that the language barrier slowed me down.", {"language_barrier": E}),  # pseudo
    ("Respondent: I cannot say the language was a barrier, but the dialect was hard.", {"language_barrier": E}),
    # generic vs relevant tasks
    ("Respondent: I spent my days filing papers nobody needed.", {"generic_tasks": E}),
    (
        "Respondent: The tasks were generic and not relevant to my work as a nurse.",
        {"generic_tasks": E, "relevant_tasks": NONE},
    ),
    ("Respondent: If the tasks had been generic, I would have gone home.", {"generic_tasks": NONE}),
    ("Respondent: My tasks were very relevant to my position back home.", {"relevant_tasks": E, "generic_tasks": NONE}),
    # age limit and recruitment
    ("Respondent: The age limit of 35 stopped our best surgeons from going.", {"age_limit": E}),
    ("Respondent: I wouldn't say the age limit affected us.", {"age_limit": NEG}),
    ("Respondent: Our doctors are over 35 when they finish their specialisation.", {"age_limit": E}),
    (
        "Respondent: We recruited the participant from outside the hospital because our staff were too old.",
        {"external_recruitment": E, "age_limit": E},
    ),
    ("Respondent: We always send our own staff.", {"internal_recruitment": E, "external_recruitment": NONE}),
    # rotation
    ("Respondent: Three weeks after I came back they moved me to the district office.", {"staff_rotation": E}),
    ("Respondent: No, we did not have any rotation problems.", {"staff_rotation": NONE}),
    ("Respondent: It would be a problem if they rotated her to another department.", {"staff_rotation": HYP}),
    # room for innovation, creativity
    ("Respondent: When I came back there was no room for new ideas.", {"room_for_innovation": E}),
    ("Respondent: I learned to improvise without the equipment we have at home.", {"creativity_innovation": E}),
    # success criteria
    ("Respondent: The hospital director was very supportive of the exchange.", {"management_anchoring": E}),
    ("Respondent: Without support from the top management it would never work.", {"management_anchoring": NEG}),
    ("Respondent: Suppose the management had not supported it, we would have failed.", {"management_anchoring": NONE}),
    ("Respondent: They also taught us a lot, it goes both ways.", {"reciprocity": E}),
    ("Respondent: It is not only about us teaching them, they teach us as well.", {"reciprocity": E}),  # pseudo
    ("Respondent: My colleague who had been on exchange to Norway helped me settle in.", {"cultural_brokers": E}),
    ("Respondent: We have been partners with Haukeland for more than ten years.", {"long_partnerships": E}),
    ("Respondent: The exchange lasted twelve months.", {"long_term_exchange": E}),
    ("Respondent: The director came on a staff visit for two weeks.", {"staff_visits": E}),
    # barriers
    (
        "Respondent: I was not allowed to touch patients because I had no Norwegian licence.",
        {"licensing_patient_access": E},
    ),
    ("Respondent: There was no budget to implement the new routine.", {"lack_of_resources": E}),
    ("Respondent: The paperwork from Norec was too bureaucratic.", {"bureaucracy": E}),
    ("Respondent: I wouldn't say bureaucracy was a problem for us.", {"bureaucracy": NEG}),  # not hypothetical
    # outcomes and recommendations
    ("Respondent: We now involve the relatives in conversations with the patient.", {"new_working_methods": E}),
    ("Respondent: They donated an ultrasound machine and trained us to use it.", {"equipment": E}),
    ("Respondent: I became more confident in my own skills.", {"self_esteem": E}),
    ("Respondent: We organised workshops to share what we learned with nearby hospitals.", {"knowledge_sharing": E}),
    ("Respondent: The exchange has become part of the hospital's international strategy.", {"internationalisation": E}),
    # interviewer turns that name a theme are not coded
    ("Interviewer: Did you experience any language barrier?", {"language_barrier": NONE}),
    ("Interviewer: How about the age limit?", {"age_limit": NONE}),
    ("Q: Were your tasks relevant to your job at home?", {"relevant_tasks": NONE}),
]
DIGRESSIONS = [
    "Respondent: The weather in Bergen was terrible, it rained every day.",
    "Respondent: We played football on Sundays with the other nurses.",
    "Respondent: The food was different but I got used to it.",
    "Respondent: My daughter started school in August, so it was a busy time at home.",
]


def _tags(line: str, nlp, codebook, tmp_path, **options):
    path = tmp_path / "case.txt"
    path.write_text(line + "\n")
    transcript = read_transcript(path)
    return code_transcript(transcript, nlp=nlp, codebook=codebook, options=CodingOptions(**options)).tags


def _status(tags, theme: str) -> str:
    found = [t for t in tags if t.theme == theme]
    if any(t.counts_as_evidence for t in found):
        return E
    if any(t.negated and not t.hypothetical for t in found):
        return NEG
    if any(t.hypothetical and not t.negated for t in found):
        return HYP
    return "negated and hypothetical" if found else NONE


@pytest.mark.parametrize("line,expected", CASES, ids=[c[0][:60] for c in CASES])
def test_rule_case(line, expected, nlp, study_codebook, tmp_path):
    tags = _tags(line, nlp, study_codebook, tmp_path)
    for theme, status in expected.items():
        assert theme in study_codebook.theme_ids
        got = _status(tags, theme)
        if status == NONE:
            assert got != E, f"{theme} counted as evidence in {line!r}"
        else:
            assert got == status, f"{theme}: expected {status}, got {got} in {line!r}"


CURLY = [
    # {q} is the apostrophe: Word writes it curly (’), most tools straight (')
    ("Respondent: I wouldn{q}t say the age limit affected us.", {"age_limit": NEG}),
    ("Respondent: I wouldn{q}t say bureaucracy was a problem for us.", {"bureaucracy": NEG}),
    ("Respondent: I couldn{q}t speak Norwegian, so I only observed.", {"language_barrier": E}),
    ("Respondent: If the tasks had been generic, I{q}d have gone home.", {"generic_tasks": NONE}),
    ("Respondent: The hospital{q}s director was very supportive of the exchange.", {"management_anchoring": E}),
]


@pytest.mark.parametrize("apostrophe", ["'", "’"], ids=["straight", "curly"])
@pytest.mark.parametrize("line,expected", CURLY, ids=[c[0][12:60] for c in CURLY])
def test_curly_apostrophes_code_like_straight_ones(line, expected, apostrophe, nlp, study_codebook, tmp_path):
    line = line.format(q=apostrophe)
    tags = _tags(line, nlp, study_codebook, tmp_path)
    assert {theme: _status(tags, theme) for theme in expected} == expected
    for tag in tags:  # offsets into the file as written, curly apostrophes and all
        assert line[tag.match_start : tag.match_end] == tag.matched.split(" | ")[0]


@pytest.mark.parametrize("line", DIGRESSIONS)
def test_digressions_are_not_evidence(line, nlp, study_codebook, tmp_path):
    assert [t.theme for t in _tags(line, nlp, study_codebook, tmp_path) if t.counts_as_evidence] == []


def test_interviewer_turns_can_be_coded_but_never_count(nlp, study_codebook, tmp_path):
    line = "Interviewer: Did you experience any language barrier?"
    assert _tags(line, nlp, study_codebook, tmp_path) == []
    coded = _tags(line, nlp, study_codebook, tmp_path, code_interviewer=True)
    assert [t.theme for t in coded] == ["language_barrier"]
    assert not coded[0].counts_as_evidence


def test_tag_explains_itself(nlp, study_codebook, tmp_path):
    (tag,) = [t for t in _tags(CASES[0][0], nlp, study_codebook, tmp_path) if t.theme == "language_barrier"]
    text = (tmp_path / "case.txt").read_text()
    assert tag.rule_id.startswith("language_barrier.") and tag.matched == "language barrier"
    assert text[tag.match_start : tag.match_end] == "language barrier"
    assert (tag.codebook_version, tag.codebook_hash) == (study_codebook.version, study_codebook.hash)


@pytest.mark.parametrize("unit", ["sentence", "turn"])
def test_matched_text_and_context_flags_read_the_fast_way_are_the_spans_own(unit, nlp):
    """`_text` (sliced from the segment) is `span.text`, `_context_flags` is each flag read on its own, for every
    theme span of the bundled transcripts, including spans padded with whitespace tokens around a segment."""
    paths = sorted((ROOT / "transcripts").glob("*.txt"))
    checked, marked = 0, Counter()
    for path in paths:
        parsed = parse_transcript(read_transcript(path), nlp, unit=Unit(unit))
        starts = [piece.token_start for piece in parsed.segments]
        read_flags = _flag_reader(parsed.doc)
        for span in parsed.doc.spans.get(SPANS_KEY, []):
            piece = parsed.segments[bisect_right(starts, span.start) - 1]
            assert _text(span, piece) == span.text
            flags = (span._.negated, span._.hypothetical, span._.context_trigger)
            assert _context_flags(span) == flags
            assert read_flags(span) == flags
            marked.update(name for name, value in zip(("negated", "hypothetical", "trigger"), flags) if value)
            checked += 1
    assert min(marked["negated"], marked["hypothetical"], marked["trigger"]) > 0  # each flag read set, not only unset
    doc = nlp.make_doc("a \n b")
    padded = SegmentSpan(Segment("t:0-1", "t", "t.txt", "R", "respondent", 0, 0, 1, "b"), 0, 3, 4)
    assert _text(doc[1:3], padded) == doc[1:3].text  # starts before the segment's text: read from the doc
    assert checked > 100


def test_context_flags_computed_by_a_getter_are_read_through_the_span(nlp):
    """An extension someone gives a getter is not in `user_data`: the flags are read through `span._` then."""
    doc = nlp("There was no language barrier at all.")
    (span,) = [s for s in doc.spans[SPANS_KEY] if s.label_ == "language_barrier"]
    assert _flag_reader(doc)(span)[0] is True
    saved = Span.get_extension("negated")
    try:
        Span.set_extension("negated", getter=lambda span: "computed", force=True)
        assert _flag_reader(doc)(span)[0] == "computed"
    finally:
        Span.set_extension("negated", default=saved[0], force=True)
    assert _flag_reader(doc)(span)[0] is True
