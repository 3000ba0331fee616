"""The faster lexical attribute getters give exactly spaCy's values."""

from __future__ import annotations

from pathlib import Path

import pytest
import spacy
from hypothesis import given
from hypothesis import strategies as st

from pipeline.ingest.read import discover
from pipeline.nlp.language import make_nlp
from pipeline.nlp.lex_attrs import TWINS

ROOT = Path(__file__).resolve().parent.parent
EDGE_WORDS = [
    *("1st 22nd 3rd 4th st th 1/2 1/2/3 -5 +3 ±2 ~7 1,000 3.14 one Third THIRD ninetieth gajillion".split()),
    *("http://x https://a.b www. www.a a.com a.co.uk/ e.g. .com com. x@y.com a.b:80 localhost:8000".split()),
    *("xxxxxxx Aaaaaaaaa AAAAAAB 12:30 00:12:40 dddddd ---- .....! ǅ İstanbul naïve Ⅻ ½ ٣ ²".split()),
    "a" * 99,
    "a" * 120,
    "\n\n\n\n\n\n",
    " ",
    "",
    *("\" ' ` « » ‘ ’ ‚ ‛ “ ” „ ‟ ‹ › ❮ ❯ '' `` ( ) [ ] { } < >".split()),
]


def _value(getter, text):
    try:
        return getter(text)
    except Exception as error:  # spaCy's getters raise on some strings (like_url on ""): so must the twins
        return type(error)


@pytest.fixture(scope="module")
def words():
    transcripts, _ = discover(ROOT / "transcripts")
    nlp = spacy.blank("en")
    found = {token.text for doc in nlp.pipe(t.text for t in transcripts) for token in doc}
    return sorted(found | {lexeme.orth_ for lexeme in nlp.vocab} | set(EDGE_WORDS))


@pytest.mark.parametrize("attr", sorted(TWINS))
def test_twins_give_spacys_values(attr, words):
    spacys, twin = TWINS[attr]
    assert [_value(twin, w) for w in words] == [_value(spacys, w) for w in words]
    assert len(words) > 2_000


@given(st.text(alphabet=st.sampled_from("aZé1٣½./:@-+~,sthdXx'\"«”( \n"), max_size=12))
def test_twins_give_spacys_values_on_random_words(text):
    for spacys, twin in TWINS.values():
        assert _value(twin, text) == _value(spacys, text)


@given(st.text(max_size=8))
def test_twins_give_spacys_values_on_any_text(text):
    for spacys, twin in TWINS.values():
        assert _value(twin, text) == _value(spacys, text)


def test_the_pipeline_uses_the_twins_and_the_same_lexemes():
    ours, theirs = make_nlp(), spacy.blank("en")
    assert all(ours.vocab.lex_attr_getters[attr] is twin for attr, (_, twin) in TWINS.items())
    text = "The 3rd www.example.org visit, AAAAAAH! Twenty-two 1/2 “quotes” ½ naïve."
    fields = ("like_num", "like_url", "shape_", "is_ascii", "is_quote", "is_left_punct", "is_right_punct")
    assert [[getattr(t, f) for f in fields] for t in ours.make_doc(text)] == [
        [getattr(t, f) for f in fields] for t in theirs.make_doc(text)
    ]
