"""The array matcher gives exactly the matches spaCy's Matcher gives within each sentence, on any pattern it takes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from spacy.matcher import Matcher

from pipeline.codebook.patterns import fold_pattern_quotes
from pipeline.nlp.components import sentence_starts
from pipeline.nlp.language import make_nlp
from pipeline.nlp.token_patterns import ArrayMatcher, TokenArrays, compile_pattern

WORDS = ["a", "b", "A", "B", ".", ",", "the", "not", "n't", "don't", "was", "were", "Tasks", "task", "1", "two", "("]
TEXTS = [
    "a b a b . A B b b, the task was not a b",
    "Tasks were two. b b b b a. a",
    "I don't know (the tasks) 1 b a, not b.",
    "We didn’t see the tasks, 1999 or 2015: a b",
    "",
    "a",
]


@pytest.fixture(scope="module")
def nlp():
    return make_nlp()


def spacy_matches(nlp, patterns, doc) -> set[tuple[str, int, int]]:
    """spaCy's Matcher run on each sentence, as the rulers did: (key, start, end) in the doc, none empty."""
    matcher = Matcher(nlp.vocab, validate=True)
    for key, pattern in patterns:
        matcher.add(key, [pattern])
    bounds = [*sentence_starts(doc), len(doc)]
    return {
        (nlp.vocab.strings[key], start + s, start + e)
        for start, end in zip(bounds, bounds[1:])
        for key, s, e in matcher(doc[start:end])
        if s != e
    }


def array_matches(nlp, patterns, docs) -> list[set[tuple[str, int, int]]]:
    matcher = ArrayMatcher(nlp.vocab)
    for key, pattern in patterns:
        assert matcher.add(key, pattern)
    tokens = TokenArrays(docs, [sentence_starts(doc) for doc in docs])
    return [set(found) for found in tokens.by_doc(matcher(tokens))]


PATTERNS = {
    "one word": [{"LOWER": "b"}],
    "in and optional": [{"LOWER": {"IN": ["a", "the"]}}, {"LOWER": "b", "OP": "?"}],
    "plus": [{"LOWER": "b", "OP": "+"}],
    "star between": [{"LOWER": "a"}, {"LOWER": "b", "OP": "*"}, {"ORTH": "."}],
    "wildcards": [{"LOWER": "a"}, {"OP": "?"}, {"OP": "?"}, {"LOWER": "b"}],
    "negated": [{"LOWER": "not"}, {"LOWER": {"NOT_IN": ["b"]}}],
    "bang": [{"LOWER": "a"}, {"LOWER": "b", "OP": "!"}],
    "lemma": [{"LEMMA": "task"}, {"LEMMA": "be"}],
    "flags": [{"LIKE_NUM": True}, {"IS_PUNCT": False, "OP": "*"}, {"IS_PUNCT": True}],
    "norm": [{"NORM": "not"}],
    "text and lower": [{"TEXT": "Tasks", "LOWER": "tasks"}],
    "leading optional": [{"LOWER": "the", "OP": "?"}, {"LOWER": {"IN": ["task", "tasks"]}}],
    "all optional": [{"LOWER": "a", "OP": "*"}, {"LOWER": "b", "OP": "?"}],
    "quotes folded": fold_pattern_quotes([{"LOWER": "n’t"}]),
    "regex": [{"LOWER": "a", "OP": "?"}, {"TEXT": {"REGEX": "^(19|20)[0-9]{2}$"}}],
    "regex on lemma": [{"LEMMA": {"REGEX": "^task"}}, {"IS_PUNCT": True, "OP": "?"}],
}


@pytest.mark.parametrize("name", PATTERNS)
def test_each_kind_of_pattern_matches_as_spacys_matcher(nlp, name):
    docs = [nlp(text) for text in TEXTS]
    found = array_matches(nlp, [(name, PATTERNS[name])], docs)
    assert found == [spacy_matches(nlp, [(name, PATTERNS[name])], doc) for doc in docs]
    assert any(found), "each pattern matches somewhere"


@pytest.mark.parametrize(
    "pattern",
    [
        [{"LOWER": {"IN": []}}],
        [{"LOWER": {"NOT_IN": []}}],
        [{"LOWER": {"IN": []}, "OP": "?"}, {"LOWER": "b"}],
        [{"LOWER": {"IN": []}, "OP": "*"}],
        [{"OP": "*"}, {"LOWER": "b"}],
        [{"LOWER": "b", "OP": "!"}],
    ],
    ids=repr,
)
def test_edge_patterns_match_as_spacys_matcher(nlp, pattern):
    docs = [nlp(text) for text in TEXTS]
    assert array_matches(nlp, [("edge", pattern)], docs) == [spacy_matches(nlp, [("edge", pattern)], d) for d in docs]


def test_a_batch_gives_each_doc_its_own_matches(nlp):
    patterns = list(PATTERNS.items())
    docs = [nlp(text) for text in TEXTS]
    assert array_matches(nlp, patterns, docs) == [array_matches(nlp, patterns, [doc])[0] for doc in docs]


@pytest.mark.parametrize(
    "pattern",
    [
        [{"LENGTH": 3}],
        [{"LOWER": {"REGEX": 3}}],
        [{"LOWER": {"FUZZY": "a"}}],
        [{"LOWER": "a", "OP": "{2}"}],
        [{"POS": "NOUN"}],
        [{"_": {"flag": True}}],
        [{"LOWER": {"IN": ["a"], "NOT_IN": ["b"]}}],
        [{"IS_PUNCT": "yes"}],
        [],
    ],
)
def test_patterns_it_cannot_run_are_refused(nlp, pattern):
    assert compile_pattern(pattern, nlp.vocab) is None
    assert not ArrayMatcher(nlp.vocab).add("key", pattern)


def test_every_token_pattern_of_the_bundled_codebook_runs_as_arrays(nlp, study_codebook):
    patterns = [rule.pattern for theme in study_codebook.themes for rule in theme.rules if rule.pattern]
    patterns += [rule.pattern for rule in study_codebook.context.rules if rule.pattern]
    assert len(patterns) > 50
    assert all(compile_pattern(fold_pattern_quotes(p), nlp.vocab) for p in patterns)


_SPEC = st.one_of(
    st.just({}),
    st.builds(lambda a, w: {a: w}, st.sampled_from(["LOWER", "ORTH", "LEMMA", "NORM", "TEXT"]), st.sampled_from(WORDS)),
    st.builds(
        lambda a, p, ws: {a: {p: ws}},
        st.sampled_from(["LOWER", "LEMMA"]),
        st.sampled_from(["IN", "NOT_IN"]),
        st.lists(st.sampled_from(WORDS), max_size=4),
    ),
    st.builds(lambda f, v: {f: v}, st.sampled_from(["IS_PUNCT", "LIKE_NUM", "IS_TITLE"]), st.booleans()),
    st.builds(
        lambda a, r: {a: {"REGEX": r}}, st.sampled_from(["TEXT", "LOWER"]), st.sampled_from(["^t", "a$", "[0-9]"])
    ),
)
_TOKEN = st.builds(
    lambda spec, op: {**spec, **({"OP": op} if op else {})}, _SPEC, st.sampled_from([None, "?", "*", "+", "!"])
)


@given(
    patterns=st.lists(st.lists(_TOKEN, min_size=1, max_size=4), min_size=1, max_size=3),
    words=st.lists(st.sampled_from(WORDS), max_size=25),
)
def test_random_patterns_match_as_spacys_matcher(nlp, patterns, words):
    keyed = [(f"p{i}", pattern) for i, pattern in enumerate(patterns)]
    doc = nlp(" ".join(words))
    assert array_matches(nlp, keyed, [doc]) == [spacy_matches(nlp, keyed, doc)]
