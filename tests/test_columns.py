"""Shared columns give exactly `Doc.to_array`'s values, however often and in whatever order components ask."""

from __future__ import annotations

from pathlib import Path

import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy import attrs

from pipeline.coding.segment import parse_transcript
from pipeline.ingest.read import discover
from pipeline.nlp.columns import FIXED, forget_columns, read_column, read_columns
from pipeline.nlp.language import make_nlp

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
