"""The ConText component: scope direction, distance, terminators, pseudo-triggers, triggers inside a theme."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.codebook.load import load_codebook
from pipeline.coding.corpus import build_nlp
from pipeline.coding.rules import SPANS_KEY
from pipeline.nlp.context import _touches, _windows


@pytest.fixture(scope="module")
def context_nlp(fixtures):
    return build_nlp(load_codebook(fixtures / "codebooks" / "context.yaml"))


CASES = [
    # text, theme, negated, hypothetical
    ("We had a language problem in the ward.", "language_barrier", False, False),
    ("We never had a language problem in the ward.", "language_barrier", True, False),
    ("I didn't speak Norwegian at all.", "language_barrier", True, False),
    ("The language barrier was not an issue for us.", "language_barrier", True, False),
    ("If there had been a language problem we would have left.", "language_barrier", False, True),
    (
        "We never went to the market on Sundays, and the language problem was real.",
        "language_barrier",
        False,
        False,
    ),  # beyond scope 5
    ("I never complained but the language barrier was real.", "language_barrier", False, False),  # terminated
    ("It was not only a language problem, it was culture.", "language_barrier", False, False),  # pseudo
    ("There was no budget to buy the monitors.", "lack_of_resources", False, False),  # trigger inside the span
    ("The budget cuts hit us hard.", "lack_of_resources", False, False),  # lemma phrase
    ("We never faced budget cuts.", "lack_of_resources", True, False),
    ("No. I speak Norwegian now.", "language_barrier", False, False),  # trigger in another sentence
]


@pytest.mark.parametrize("text,theme,negated,hypothetical", CASES, ids=[c[0] for c in CASES])
def test_context(context_nlp, text, theme, negated, hypothetical):
    doc = context_nlp(text)
    spans = [s for s in doc.spans[SPANS_KEY] if s.label_ == theme]
    assert spans, f"{theme} not matched in {text!r}"
    assert any(s._.negated for s in spans) is negated
    assert any(s._.hypothetical for s in spans) is hypothetical
    if negated or hypothetical:
        assert spans[0]._.context_trigger


def test_rule_ids_and_matched_words(context_nlp):
    doc = context_nlp("I could not speak Norwegian and the budget cuts came.")
    found = {(s.label_, s.id_, s.text) for s in doc.spans[SPANS_KEY]}
    assert found == {
        ("language_barrier", "lb.speak", "speak Norwegian"),
        ("lack_of_resources", "lr.lemma", "budget cuts"),
    }


def test_component_is_serialisable_config(context_nlp):
    config = context_nlp.config["components"]["qualcode_context"]
    assert config["max_scope"] == 5 and config["spans_key"] == SPANS_KEY
    assert {r["category"] for r in config["rules"]} == {"NEGATED_EXISTENCE", "HYPOTHETICAL", "PSEUDO", "TERMINATE"}


CURLY_CASES = [
    # text with {q} for the apostrophe, theme, negated
    ("I didn{q}t speak Norwegian at all.", "language_barrier", True),
    ("We didn{q}t have a language problem.", "language_barrier", True),
    ("It wasn{q}t only a language problem.", "language_barrier", True),
    ("The hospital{q}s language barrier was real.", "language_barrier", False),
]


@pytest.mark.parametrize("apostrophe", ["'", "’"], ids=["straight", "curly"])
@pytest.mark.parametrize("text,theme,negated", CURLY_CASES, ids=[c[0] for c in CURLY_CASES])
def test_curly_apostrophes_negate_like_straight_ones(context_nlp, text, theme, negated, apostrophe):
    """Word writes "didn’t": the negation trigger "n't" matches it, and spans keep the text's own offsets."""
    text = text.format(q=apostrophe)
    doc = context_nlp(text)
    spans = [s for s in doc.spans[SPANS_KEY] if s.label_ == theme]
    assert spans and any(s._.negated for s in spans) is negated
    assert all(text[s.start_char : s.end_char] == s.text for s in spans)
    if negated:
        assert spans[0]._.context_trigger == f"n{apostrophe}t"


@given(
    st.lists(st.integers(1, 6), min_size=1, max_size=12),  # sentence lengths
    st.data(),
    st.integers(1, 4),  # tokens in the longest literal trigger
)
def test_every_trigger_touching_a_themed_sentence_lies_in_one_window(lengths, data, longest):
    bounds = [0, *itertools.accumulate(lengths)]
    sentences = list(zip(bounds, bounds[1:]))
    themed = [s for s in sentences if data.draw(st.booleans())] or sentences[:1]
    windows = _windows(themed, longest, bounds[-1])
    assert all(a < b <= c for (a, b), (c, _) in zip(windows, windows[1:]))  # sorted and apart: no match twice
    starts = [start for start, _ in themed]
    for start in range(bounds[-1]):
        for end in range(start + 1, min(start + longest, bounds[-1]) + 1):
            if _touches(start, end, themed, starts):
                assert any(a <= start and end <= b for a, b in windows), (start, end)
