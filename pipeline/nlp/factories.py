"""qualcode's spaCy component registrations, all in one place (importing this module registers them)."""

from __future__ import annotations

from functools import partial
from typing import Any

from spacy.attrs import IS_SPACE, ORTH
from spacy.language import Language
from spacy.pipeline.span_ruler import overlapping_labeled_spans_score
from spacy.tokens import Doc

from pipeline.nlp.columns import read_columns
from pipeline.nlp.components import (
    ArraySentencizer,
    CaseFoldingLemmatizer,
    SentenceSplitter,
    keep_annotations_whole,
    mark_sentence_starts,
    paragraph_starts,
)
from pipeline.nlp.context import ConTextComponent
from pipeline.nlp.span_ruler import AnchoredSpanRuler


@Language.component("qualcode_paragraphs")
def paragraph_breaks(doc: Doc) -> Doc:
    """Start a sentence after a blank line, so a paragraph never runs into the next one."""
    if len(doc) < 2:
        return doc
    rows = read_columns(doc, [ORTH, IS_SPACE])
    return mark_sentence_starts(doc, paragraph_starts(doc, rows[:, 0], rows[:, 1]))


@Language.component("qualcode_annotations", assigns=["token.is_sent_start"])
def whole_annotations(doc: Doc) -> Doc:
    """Keep `[laughs]`, `[inaudible]`, `(pause)` in one sentence (after the sentencizer)."""
    return keep_annotations_whole(doc)


@Language.factory(
    "qualcode_sentencizer",
    assigns=["token.is_sent_start", "doc.sents"],
    default_config={"punct_chars": None, "overwrite": False},
)
def make_sentencizer(nlp: Language, name: str, punct_chars: list[str] | None, overwrite: bool) -> ArraySentencizer:
    """Factory for spaCy's sentencizer rule on hash arrays (same sentence starts)."""
    return ArraySentencizer(name, punct_chars=punct_chars, overwrite=overwrite)


@Language.factory(
    "qualcode_sentences",
    assigns=["token.is_sent_start", "doc.sents"],
    default_config={"punct_chars": None, "overwrite": False},
)
def make_sentences(nlp: Language, name: str, punct_chars: list[str] | None, overwrite: bool) -> SentenceSplitter:
    """Factory for `qualcode_paragraphs`, `qualcode_sentencizer` and `qualcode_annotations` in one pass (same
    sentence starts, the doc's arrays read and written once)."""
    return SentenceSplitter(name, punct_chars=punct_chars, overwrite=overwrite)


@Language.factory(
    "qualcode_lemmatizer",
    assigns=["token.lemma"],
    default_config={"model": None, "mode": "lookup", "overwrite": False},
)
def make_lemmatizer(nlp: Language, model: Any, name: str, mode: str, overwrite: bool) -> CaseFoldingLemmatizer:
    """Factory for the case-folding lookup lemmatizer (tables from spacy-lookups-data, loaded at initialize)."""
    return CaseFoldingLemmatizer(nlp.vocab, model, name, mode=mode, overwrite=overwrite)


@Language.factory(
    "qualcode_context",
    default_config={"rules": [], "max_scope": 8, "spans_key": "themes"},
)
def make_context(
    nlp: Language, name: str, rules: list[dict[str, Any]], max_scope: int, spans_key: str
) -> ConTextComponent:
    """Factory for the ConText component; rules are the codebook's `context.rules` as plain dicts."""
    return ConTextComponent(nlp, name, rules=rules, max_scope=max_scope, spans_key=spans_key)


@Language.factory(
    "qualcode_span_ruler",
    default_config={"spans_key": "themes", "phrase_matcher_attr": None, "validate": False, "overwrite": False},
)
def make_anchored_span_ruler(
    nlp: Language, name: str, spans_key: str, phrase_matcher_attr: str | None, validate: bool, overwrite: bool
) -> AnchoredSpanRuler:
    """Factory for the anchored span ruler (same patterns and config as spaCy's `span_ruler`)."""
    return AnchoredSpanRuler(
        nlp,
        name,
        spans_key=spans_key,
        phrase_matcher_attr=phrase_matcher_attr,
        validate=validate,
        overwrite=overwrite,
        scorer=partial(overlapping_labeled_spans_score, spans_key=spans_key),
    )
