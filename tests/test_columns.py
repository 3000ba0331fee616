"""Shared columns give exactly `Doc.to_array`'s values, however often and in whatever order components ask."""

from __future__ import annotations

from pathlib import Path

import numpy
import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy import attrs
from spacy.language import Language

import pipeline.coding.segment as segment_module
from pipeline.coding.segment import parse_transcript
from pipeline.ingest.read import discover
from pipeline.nlp.columns import (
    FIXED,
    WRITTEN,
    forget_columns,
    read_column,
    read_columns,
    share_written_columns,
    write_column,
)
from pipeline.nlp.components import mark_sentence_starts, sentence_starts
from pipeline.nlp.language import make_nlp, shares_written_columns

ROOT = Path(__file__).resolve().parent.parent
ASKED = [attrs.ORTH, attrs.LOWER, attrs.IS_PUNCT, attrs.IS_SPACE, attrs.LIKE_NUM, attrs.IDX, attrs.LEMMA]
ASKED += [attrs.SENT_START, attrs.NORM, attrs.SPACY, attrs.LENGTH]


@pytest.fixture(scope="module")
def nlp():
    return make_nlp()


def test_fixed_columns_are_the_lexeme_and_tokenizer_values():
    assert {attrs.ORTH, attrs.LOWER, attrs.IS_PUNCT, attrs.LIKE_NUM, attrs.IDX} <= FIXED
    assert not {attrs.LEMMA, attrs.SENT_START, attrs.NORM, attrs.POS, attrs.TAG, attrs.ENT_TYPE} & FIXED


@settings(max_examples=60, deadline=None)
@given(
    words=st.lists(st.sampled_from(["Tasks", "were", "rotated", ".", "ten", "\n\n", "n't", "Staff", "?", "(", "2019"])),
    asks=st.lists(st.lists(st.sampled_from(ASKED), min_size=1, max_size=5), min_size=1, max_size=4),
)
def test_every_read_is_to_arrays(words, asks):
    """Repeated and overlapping requests, on empty docs too, each give `to_array`'s values."""
    doc = spacy.blank("en")(" ".join(words))
    for ask in asks:
        assert (read_columns(doc, ask) == doc.to_array(ask).reshape(len(doc), len(ask))).all()


def test_attributes_components_set_are_read_afresh(nlp):
    doc = nlp.make_doc("Staff were rotated. Tasks stayed generic.")
    before = read_columns(doc, [attrs.ORTH, attrs.LEMMA, attrs.SENT_START])
    doc = nlp(doc)  # the sentencizer and lemmatizer set SENT_START and LEMMA
    after = read_columns(doc, [attrs.ORTH, attrs.LEMMA, attrs.SENT_START])
    assert (after == doc.to_array([attrs.ORTH, attrs.LEMMA, attrs.SENT_START])).all()
    assert (after[:, 0] == before[:, 0]).all() and (after[:, 1:] != before[:, 1:]).any()


def test_a_retokenised_doc_is_read_again():
    doc = spacy.blank("en")("the staff exchange programme")
    read_columns(doc, [attrs.ORTH, attrs.IDX])
    with doc.retokenize() as retokenizer:
        retokenizer.merge(doc[1:3])
    assert (read_columns(doc, [attrs.ORTH, attrs.IDX]) == doc.to_array([attrs.ORTH, attrs.IDX])).all()


def test_changing_a_result_leaves_later_reads_right():
    doc = spacy.blank("en")("Rotation moved people. Again.")
    expected = doc.to_array([attrs.ORTH, attrs.IS_PUNCT])
    read_columns(doc, [attrs.ORTH, attrs.IS_PUNCT])[:] = 0
    read_column(doc, attrs.ORTH)[:] = 0
    assert (read_columns(doc, [attrs.ORTH, attrs.IS_PUNCT]) == expected).all()


def test_forget_drops_the_cache_and_segments_forget_it(nlp):
    doc = spacy.blank("en")("a b")
    read_column(doc, attrs.ORTH)
    assert doc.user_data
    forget_columns(doc)
    assert not doc.user_data
    transcripts, _ = discover(ROOT / "transcripts")
    parsed = parse_transcript(transcripts[0], nlp)
    assert all(not isinstance(key, str) for key in parsed.doc.user_data)  # only spaCy's extension values remain


WRITTEN_ASKED = [attrs.SENT_START, attrs.LEMMA]


@pytest.mark.parametrize("shared", [False, True])
def test_written_columns_are_to_arrays_after_every_component(nlp, shared):
    """Sentence starts and lemmas, shared as written or read back, equal `to_array`'s after each component."""
    transcripts, _ = discover(ROOT / "transcripts")
    for transcript in transcripts[:3]:
        doc = nlp.make_doc(transcript.text)
        if shared:
            share_written_columns(doc)
        mark_sentence_starts(doc, [0, 5, 9])
        for _, component in nlp.pipeline:
            doc = component(doc)
            assert (read_columns(doc, WRITTEN_ASKED) == doc.to_array(WRITTEN_ASKED)).all()
        assert sentence_starts(doc) == [sentence.start for sentence in doc.sents]


def test_only_a_marked_doc_keeps_what_was_written():
    """On a doc not marked, a later write by other code (here `from_array` itself) is what the next read gives."""
    for shared in (False, True):
        doc = spacy.blank("en")("One. Two. Three. Four.")
        if shared:
            share_written_columns(doc)
        write_column(doc, attrs.SENT_START, numpy.array([1, 0, 1, 0, 0, 0, 0, 0], dtype="uint64"))
        doc.from_array([attrs.SENT_START], numpy.array([1, 0, 0, 0, 1, 0, 0, 0], dtype="uint64"))
        assert sentence_starts(doc) == ([0, 2] if shared else [0, 4])  # the marked doc trusts its writers


@pytest.mark.parametrize("attr", [attrs.SPACY, attrs.NORM])
def test_writing_a_column_no_component_shares_drops_its_copy(attr):
    """A column no component shares (the tokenizer's SPACY, cached; NORM), written through `write_column`, is
    read afresh after."""
    doc = spacy.blank("en")("Staff rotated often")
    share_written_columns(doc)
    read_column(doc, attr)
    values = [1, 0, 0] if attr == attrs.SPACY else [doc.vocab.strings.add("x")] * 3
    write_column(doc, attr, numpy.array(values, dtype="uint64"))
    assert (read_column(doc, attr) == doc.to_array([attr]).reshape(-1)).all()
    assert read_column(doc, attr).tolist() == values
    assert WRITTEN == {attrs.SENT_START, attrs.LEMMA}


@Language.component("test_foreign_sentence_starts")
def foreign_sentence_starts(doc):
    """A component from outside qualcode: a sentence starts at every "So", set through spaCy's token API."""
    for token in doc[1:]:
        if token.text == "So":
            token.is_sent_start = True
    return doc


def test_a_pipeline_with_a_foreign_component_reads_written_columns_back():
    """Any component that is not qualcode's own turns sharing off, so what it writes reaches the segments."""
    transcripts, _ = discover(ROOT / "transcripts")
    transcript = next(t for t in transcripts if " So " in t.text)
    ours = make_nlp()
    theirs = make_nlp()
    theirs.add_pipe("test_foreign_sentence_starts", after="lemmatizer")
    assert shares_written_columns(ours) and not shares_written_columns(theirs)
    by_ours = [s.segment.text for s in parse_transcript(transcript, ours).segments]
    by_theirs = [s.segment.text for s in parse_transcript(transcript, theirs).segments]
    assert len(by_theirs) > len(by_ours)
    assert any(text.startswith("So ") for text in by_theirs if text not in by_ours)


def test_sharing_gives_the_segments_and_spans_of_reading_back(nlp, monkeypatch):
    """On the bundled transcripts: the same segments, theme spans and ConText marks with sharing on and off."""
    from pipeline.codebook.load import load_codebook
    from pipeline.coding.corpus import build_nlp

    full = build_nlp(load_codebook(ROOT / "codebook.yaml"))
    assert shares_written_columns(full)
    transcripts, _ = discover(ROOT / "transcripts")

    def parsed():
        found = []
        for transcript in transcripts:
            result = parse_transcript(transcript, full)
            spans = [(s.start, s.end, s.label_, s._.negated, s._.hypothetical) for s in result.doc.spans["themes"]]
            found.append(([s.segment for s in result.segments], spans))
        return found

    shared = parsed()
    monkeypatch.setattr(segment_module, "shares_written_columns", lambda nlp: False)
    assert parsed() == shared
    assert sum(len(spans) for _, spans in shared) > 50


def test_the_splitters_own_set_annotations_keeps_a_shared_doc_right(nlp):
    """spaCy's predict/set_annotations route through the sentence splitter also writes through `write_column`."""
    splitter = nlp.get_pipe("sentencizer")
    doc = nlp.make_doc("One. Two here. Three")
    share_written_columns(doc)
    mark_sentence_starts(doc, [0])
    splitter.set_annotations([doc], splitter.predict([doc]))
    assert (read_column(doc, attrs.SENT_START) == doc.to_array([attrs.SENT_START]).reshape(-1)).all()
    assert sentence_starts(doc) == [sentence.start for sentence in doc.sents] == [0, 2, 5]
