"""Filling the tokenizer's cache first never changes a doc: tokens, spaces and norms are spaCy's own."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import spacy
from hypothesis import given
from hypothesis import strategies as st
from spacy.attrs import NORM, ORTH, SPACY

from pipeline.ingest.read import discover
from pipeline.nlp.language import make_nlp
from pipeline.nlp.tokenizer_cache import _PUNCTUATION, CACHE_CHUNKS, CacheWarmer, make_doc

ROOT = Path(__file__).resolve().parent.parent
# Chunks that hit spaCy's English special cases (contractions, abbreviations, emoticons), alone or with affixes.
TRICKY = ["don't", "(dont", "Dr.", "e.g.", "U.S.", ":)", "I'm", "it's.", "can't!", "o.O", "gonna", "Im,", "’s"]
WORDS = ["we", "had", "a", "language", "barrier", ",", ".", "(", ")", "Norec", "2015", "well-known", *TRICKY]


@cache
def _english_warmer() -> CacheWarmer:
    return CacheWarmer(spacy.blank("en").tokenizer)


def _tokens(doc) -> list[tuple[str, bool, str]]:
    strings = doc.vocab.strings
    return [(strings[o], bool(s), strings[n]) for o, s, n in doc.to_array([ORTH, SPACY, NORM]).tolist()]


def test_docs_are_spacys_on_the_bundled_transcripts():
    transcripts, _ = discover(ROOT / "transcripts")
    warmed, fresh = make_nlp(), spacy.blank("en")
    for transcript in transcripts:
        assert _tokens(make_doc(warmed, transcript.text)) == _tokens(fresh.make_doc(transcript.text))
    assert warmed.tokenizer.max_cache_size == CACHE_CHUNKS  # the warmer was used


@given(st.lists(st.lists(st.sampled_from(WORDS), max_size=30).map(" ".join), min_size=1, max_size=5))
def test_docs_are_spacys_on_texts_with_special_cases(texts):
    warmed = spacy.blank("en")
    for text in texts:  # later texts are tokenised partly from what earlier ones put in the cache
        assert _tokens(make_doc(warmed, text)) == _tokens(spacy.blank("en").make_doc(text))


def test_the_warmer_stops_at_its_limit():
    nlp = spacy.blank("en")
    warmer = CacheWarmer(nlp.tokenizer, limit=3)
    warmer("a b c d e")
    warmer("f g")
    assert warmer.seen == {"a", "b", "c", "d", "e"}
    assert nlp.tokenizer.max_cache_size >= 10_000


@given(
    st.sampled_from(sorted(spacy.blank("en").tokenizer.rules)),
    st.text(alphabet="([\"'.,!?)]“”…-", max_size=3),
    st.text(alphabet="([\"'.,!?)]“”…-", max_size=3),
    st.sampled_from(["", "x", "ab"]),
)
def test_a_chunk_may_hit_a_special_case_exactly_when_a_stripped_form_of_it_is_one(rule, lead, trail, extra):
    warmer = _english_warmer()
    for chunk in (lead + rule + trail, lead + rule + extra + trail, lead + extra + trail):
        stripped = len(chunk) - len(chunk.lstrip(_PUNCTUATION)), len(chunk) - len(chunk.rstrip(_PUNCTUATION))
        forms = {chunk[i : len(chunk) - j] for i in range(stripped[0] + 1) for j in range(stripped[1] + 1)}
        assert warmer._may_hit_special(chunk) == (not chunk.isalnum() and bool(forms & warmer.rules)), chunk
