"""qualcode's spaCy components give exactly what spaCy's own would, only faster."""

from __future__ import annotations

from bisect import bisect_right
from pathlib import Path

import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.attrs import SENT_START

from pipeline.codebook.model import MatchAttr
from pipeline.codebook.patterns import span_ruler_patterns
from pipeline.coding.rules import SPANS_KEY
from pipeline.coding.segment import parse_transcript
from pipeline.core.text import plain_quotes
from pipeline.ingest.read import discover
from pipeline.nlp.components import annotation_spans, mark_sentence_starts, sentence_starts
from pipeline.nlp.language import make_nlp
from pipeline.nlp.span_ruler import required_constraints

ROOT = Path(__file__).resolve().parent.parent
EDGE_TEXTS = [
    'Hello world!! What? "Yes." (Maybe...) ok',
    "",
    "a",
    "Tasks were rotated. Staff",
    "...",
    "Dr. Banda.",
    '. a ; . - b !? ") c',
    "No punctuation at all here",
    '"Really?" she said. (Yes.) [laughs] So.',
]


@pytest.fixture(scope="module")
def corpus():
    transcripts, _ = discover(ROOT / "transcripts")
    return transcripts


def test_sentencizer_matches_spacys(corpus):
    ours = spacy.blank("en")
    ours.add_pipe("qualcode_sentencizer")
    theirs = spacy.blank("en")
    theirs.add_pipe("sentencizer")
    for text in [t.text for t in corpus] + EDGE_TEXTS:
        assert [t.is_sent_start for t in ours(text)] == [t.is_sent_start for t in theirs(text)]


ANNOTATED = [
    # spaCy's rule gives "It's Bergen. [" / "laughs] So, ...": the annotation stays with the sentence before it
    ("It's Bergen. [laughs] So, how did you end up there?", ["It's Bergen. [laughs]", "So, how did you end up there?"]),
    ("[laughs] Snow. I remember the snow.", ["[laughs] Snow.", "I remember the snow."]),
    (
        "I said no. (pause) Maybe. [inaudible 00:12:40] Right.",
        ["I said no. (pause)", "Maybe. [inaudible 00:12:40]", "Right."],
    ),
    ("Yes. [laughs] [inaudible] So we left.", ["Yes. [laughs] [inaudible]", "So we left."]),
    ("(It was hard.) Then we left.", ["(It was hard.)", "Then we left."]),  # a sentence in brackets still ends
    ("We met (in Oslo) twice. Then never.", ["We met (in Oslo) twice.", "Then never."]),
]


@pytest.mark.parametrize(("text", "sentences"), ANNOTATED, ids=[a[0] for a in ANNOTATED])
def test_annotations_stay_in_one_sentence(text, sentences):
    assert [s.text for s in make_nlp()(text).sents] == sentences


def test_annotations_only_move_starts_spacy_puts_inside_them(corpus):
    """On the bundled transcripts every sentence start is spaCy's, except those inside an annotation."""
    ours = make_nlp()
    theirs = spacy.blank("en")
    theirs.add_pipe("qualcode_paragraphs")
    theirs.add_pipe("sentencizer")
    moved = 0
    for text in [t.text for t in corpus]:
        mine, spacys = ours(text), theirs(text)
        differ = [i for i, (a, b) in enumerate(zip(mine, spacys)) if a.is_sent_start != b.is_sent_start]
        inside = {i for start, end in annotation_spans(mine) for i in range(start + 1, end + 1)}
        assert set(differ) <= inside
        moved += len(differ)
    assert moved  # the bundled transcripts have `[laughs]` after full stops


def _sentence_flags(text: str, *, one_pass: bool, overwrite: bool, preset: tuple[int, ...] = ()) -> list[int]:
    """SENT_START of every token after qualcode's sentence components, in one pass or as three components, with
    some tokens made sentence starts beforehand (as segmenting does with each turn's first token)."""
    nlp = spacy.blank("en")
    if one_pass:
        nlp.add_pipe("qualcode_sentences", config={"overwrite": overwrite})
    else:
        nlp.add_pipe("qualcode_paragraphs")
        nlp.add_pipe("qualcode_sentencizer", config={"overwrite": overwrite})
        nlp.add_pipe("qualcode_annotations")
    doc = mark_sentence_starts(nlp.make_doc(text), preset)
    for _, component in nlp.pipeline:
        doc = component(doc)
    return doc.to_array([SENT_START]).view("int64").tolist()


@pytest.mark.parametrize("overwrite", [False, True])
def test_sentences_in_one_pass_match_the_three_components(corpus, overwrite):
    texts = [t.text for t in corpus] + EDGE_TEXTS + [text for text, _ in ANNOTATED] + ["a\n\nb", "\n\n", "x \n\n\n y"]
    for text in texts:
        for preset in ((), (0, 3, 7)):
            assert _sentence_flags(text, one_pass=True, overwrite=overwrite, preset=preset) == _sentence_flags(
                text, one_pass=False, overwrite=overwrite, preset=preset
            )


@given(
    st.lists(st.sampled_from(["[", "]", "(", ")", "laughs", "A", "b", ".", "?!", "\n", "\n\n", ",", '"']), max_size=40),
    st.lists(st.integers(0, 40), max_size=4),
)
def test_sentences_in_one_pass_match_the_three_components_on_random_texts(words, preset):
    text = " ".join(words)
    assert _sentence_flags(text, one_pass=True, overwrite=False, preset=tuple(preset)) == _sentence_flags(
        text, one_pass=False, overwrite=False, preset=tuple(preset)
    )


def _annotation_spans_token_by_token(doc) -> list[tuple[int, int]]:
    """The straightforward scan `annotation_spans` must agree with: every token, in order."""
    pairs = {"[": "]", "(": ")"}
    spans, index = [], 0
    while index < len(doc):
        close, end = pairs.get(doc[index].text), None
        if close is not None:
            for inner in range(index + 1, min(index + 10, len(doc))):
                if doc[inner].text == close:
                    end = inner + 1
                    break
                if doc[inner].text in {"[", "]", "(", ")"} or doc[inner].is_space:
                    break
        if end is not None and end - index > 2:
            spans.append((index, end))
            index = end
        else:
            index += 1
    return spans


@given(st.lists(st.sampled_from(["[", "]", "(", ")", "laughs", "a", "b", ".", "\n", "00:12:40"]), max_size=40))
def test_annotation_spans_match_a_token_by_token_scan(words):
    doc = spacy.blank("en")(" ".join(words))
    assert annotation_spans(doc) == _annotation_spans_token_by_token(doc)


def test_annotation_spans_on_the_bundled_transcripts(corpus):
    nlp = spacy.blank("en")
    found = [(annotation_spans(doc), _annotation_spans_token_by_token(doc)) for doc in nlp.pipe(t.text for t in corpus)]
    assert all(ours == theirs for ours, theirs in found)
    assert sum(len(ours) for ours, _ in found) > 10


def test_sentence_starts_match_doc_sents(corpus):
    nlp = make_nlp()
    for text in [t.text for t in corpus] + EDGE_TEXTS:
        doc = nlp(text)
        assert sentence_starts(doc) == [sentence.start for sentence in doc.sents]
    assert sentence_starts(spacy.blank("en")("no sentences set")) == [0]


def table_rule_lemma(nlp, text):
    """The lemmatizer's rule spelled out on string keys with spaCy's own `Table.get`: the table's lemma of the form
    with straight quotes, else of its lowercase, else the lowercase (the reference for its hash look-ups)."""
    table = nlp.get_pipe("lemmatizer").lookups.get_table("lemma_lookup")
    plain = plain_quotes(text)
    lemma = table.get(plain)
    return lemma if lemma is not None else table.get(plain.lower(), plain.lower())


def test_lemmatizer_matches_its_token_lookup(corpus):
    nlp = make_nlp()
    lemmatizer = nlp.get_pipe("lemmatizer")
    curly = ["We didn’t. O’Brien’s ‘Tasks’ were ROTATED, weren’t they?", "Didn’t didn't DIDN’T Mice mice"]
    for text in [t.text for t in corpus] + EDGE_TEXTS + curly:
        doc = nlp(text)
        assert [t.lemma_ for t in doc] == [lemmatizer.lookup_lemmatize(t)[0] for t in doc]
        assert [t.lemma_ for t in doc] == [table_rule_lemma(nlp, t.text) for t in doc]
    assert [t.lemma_ for t in nlp("Tasks were rotated. Staff")] == ["task", "be", "rotate", ".", "staff"]
    assert [t.lemma_ for t in nlp("Mice didn’t")] == ["mouse", "do", "not"]


@pytest.fixture(scope="module")
def blank_nlp():
    return make_nlp()


LEMMA_WORDS = ["Mice", "mice", "didn’t", "DIDN’T", "O’Brien", "NOUN", "PERSON", "orth", "Staff", "were", "ROTATED"]


@settings(max_examples=60, deadline=None)
@given(words=st.lists(st.sampled_from(LEMMA_WORDS) | st.text(alphabet="aAbB’'“é.", min_size=1, max_size=6), max_size=8))
def test_lemmatizer_learns_new_forms_as_its_token_lookup(blank_nlp, words):
    """New forms are looked up by hash (`_learn`): curly quotes, capitals, symbol names and accents give the lemma
    the rule gives on string keys, and the one `lookup_lemmatize` gives."""
    nlp = blank_nlp
    lemmatizer = nlp.get_pipe("lemmatizer")
    doc = nlp(" ".join(words))
    assert [t.lemma_ for t in doc] == [table_rule_lemma(nlp, t.text) for t in doc]
    assert [t.lemma_ for t in doc] == [lemmatizer.lookup_lemmatize(t)[0] for t in doc]


@pytest.mark.parametrize("overwrite", [False, True])
def test_lemmatizer_keeps_preset_lemmas_unless_told_to_overwrite(overwrite):
    nlp = make_nlp()
    lemmatizer = nlp.get_pipe("lemmatizer")
    lemmatizer.overwrite = overwrite
    nlp("Tasks were rotated")  # the forms are in its cache already: the preset must still win
    doc = nlp.make_doc("Tasks were rotated")
    doc[0].lemma_ = "chore"
    assert [t.lemma_ for t in lemmatizer(doc)] == ["task" if overwrite else "chore", "be", "rotate"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_lemmatizer_gives_a_batch_what_it_gives_each_doc_alone(corpus, overwrite):
    """`pipe` looks a batch's forms up at once: the same lemmas as doc by doc, empty docs and preset lemmas too."""
    texts = [t.text for t in corpus] + EDGE_TEXTS + ["", "Tasks were rotated", "Zorblats were zorbled"]

    def docs(nlp):
        made = [nlp.make_doc(text) for text in texts]
        made[-2][0].lemma_ = "chore"  # a preset lemma
        return made

    alone, batched = make_nlp(), make_nlp()
    for nlp in (alone, batched):
        nlp.get_pipe("lemmatizer").overwrite = overwrite
    one_by_one = [alone.get_pipe("lemmatizer")(doc) for doc in docs(alone)]
    together = list(batched.get_pipe("lemmatizer").pipe(docs(batched), batch_size=7))
    assert [[t.lemma_ for t in doc] for doc in together] == [[t.lemma_ for t in doc] for doc in one_by_one]
    assert together[-2][0].lemma_ == ("task" if overwrite else "chore")


def test_anchored_ruler_finds_the_same_spans_as_spacys(corpus, study_codebook):
    def build(factory: str):
        nlp = make_nlp()
        for attr in MatchAttr:
            ruler = nlp.add_pipe(
                factory,
                name=f"r_{attr.value}",
                **({"first": True} if attr is MatchAttr.LOWER else {"last": True}),
                config={
                    "spans_key": SPANS_KEY,
                    "phrase_matcher_attr": attr.value,
                    "validate": True,
                    "overwrite": False,
                },
            )
            ruler.add_patterns(span_ruler_patterns(study_codebook, match=attr))
        return nlp

    def spans(nlp):
        found = []
        for transcript in corpus:
            doc = parse_transcript(transcript, nlp).doc
            starts = [s.start for s in doc.sents]
            sentence = lambda i, starts=starts: bisect_right(starts, i)  # noqa: E731
            found.append(
                sorted(
                    (s.start, s.end, s.label_, s.id_)
                    for s in doc.spans[SPANS_KEY]
                    if sentence(s.start) == sentence(s.end - 1)
                )
            )
        return found

    ours, theirs = spans(build("qualcode_span_ruler")), spans(build("span_ruler"))
    assert sum(map(len, theirs)) > 100
    assert ours == theirs


@pytest.mark.parametrize(
    "pattern,expected",
    [
        ([{"LOWER": "no"}, {"LEMMA": {"IN": ["budget", "fund"]}}], [("LOWER", {"no"}), ("LEMMA", {"budget", "fund"})]),
        ([{"LOWER": "a", "OP": "?"}, {"LEMMA": "speak", "OP": "+"}, {}], [("LEMMA", {"speak"})]),
        ([{"IS_PUNCT": True}, {"LOWER": {"NOT_IN": ["x"]}}], []),
    ],
)
def test_required_constraints(pattern, expected):
    assert [(attr, set(values)) for attr, values in required_constraints(pattern)] == expected


RULER_PATTERNS = [
    {"label": "BARRIER", "id": "language", "pattern": [{"LOWER": "language"}, {"LOWER": "barrier"}]},
    {"label": "BARRIER", "id": "problem", "pattern": "language problem"},
    {"label": "SUPPORT", "id": "mentor", "pattern": [{"LEMMA": "mentor"}]},
    {
        "label": "SUPPORT",
        "id": "help",
        "pattern": [{"LOWER": {"IN": ["help", "helped"]}}, {"OP": "?"}, {"LOWER": "me"}],
    },
    {"label": "SUPPORT", "id": "mentor", "pattern": "my supervisor"},
    {"label": "TASKS", "pattern": [{"LOWER": "generic"}, {"LOWER": "tasks"}]},
    {"label": "PUNCT", "id": "punct", "pattern": [{"IS_PUNCT": True}]},  # requires no word: runs everywhere
]
RULER_TEXTS = [
    "The language barrier was hard. My mentor helped me a lot.",
    "We had a language problem, and generic tasks! My supervisor could help me.",
    "Mentors help. Help me",
]


def _ruler_spans(factory: str, steps: list[tuple[str, object]]) -> tuple:
    nlp = make_nlp()
    ruler = nlp.add_pipe(factory, config={"spans_key": SPANS_KEY, "validate": True})
    ruler.add_patterns(RULER_PATTERNS)
    for method, argument in steps:
        getattr(ruler, method)(*([] if argument is None else [argument]))
    docs = [nlp(text) for text in RULER_TEXTS]
    found = [sorted((s.start, s.end, s.label_, s.id_) for s in doc.spans[SPANS_KEY]) for doc in docs]
    return found, len(ruler), sorted(ruler.labels), sorted(ruler.ids)


@pytest.mark.parametrize(
    "steps",
    [
        [],
        [("remove", "BARRIER")],
        [("remove", "SUPPORT"), ("remove", "PUNCT")],
        [("remove_by_id", "mentor")],
        [("remove_by_id", "language"), ("remove_by_id", "punct")],
        [("clear", None)],
        [("clear", None), ("add_patterns", RULER_PATTERNS[2:4])],
        [("remove", "TASKS"), ("add_patterns", RULER_PATTERNS[5:6]), ("remove_by_id", "help")],
    ],
    ids=["none", "remove", "remove-two", "remove-by-id", "remove-by-id-two", "clear", "clear-add", "mixed"],
)
def test_anchored_ruler_follows_spacys_after_remove_and_clear(steps):
    ours, theirs = _ruler_spans("qualcode_span_ruler", steps), _ruler_spans("span_ruler", steps)
    assert ours == theirs
    assert any(ours[0]) or not ours[1]  # something is still found while patterns are left


@pytest.mark.parametrize(("method", "argument"), [("remove", "NOPE"), ("remove_by_id", "nope")])
def test_anchored_ruler_refuses_unknown_labels_and_ids_as_spacys(method, argument):
    for factory in ("qualcode_span_ruler", "span_ruler"):
        with pytest.raises(ValueError, match=argument):
            _ruler_spans(factory, [(method, argument)])
