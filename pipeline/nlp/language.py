"""The spaCy pipeline qualcode segments with: blank English plus its components, or an installed trained pipeline."""

from __future__ import annotations

from collections.abc import Collection

import spacy
from spacy.language import Language

from pipeline.core.errors import QualcodeError
from pipeline.nlp import factories  # noqa: F401  (registers qualcode's components)
from pipeline.nlp.affixes import speed_up_affixes
from pipeline.nlp.components import CaseFoldingLemmatizer, SentenceSplitter, fold_quotes_in_lower
from pipeline.nlp.context import ConTextComponent
from pipeline.nlp.lexemes import keep_lexical_attributes
from pipeline.nlp.span_ruler import AnchoredSpanRuler


def make_nlp(*, spacy_model: str | None = None, lexical_attributes: Collection[str] | None = None) -> Language:
    """spaCy pipeline for segmenting: blank English + sentences (paragraphs, sentencizer rule, annotations) +
    lookup lemmatizer (spacy-lookups-data, with a lowercase fallback),
    or an installed trained pipeline; either way LOWER folds curly quotes and the tokenizer's suffix and infix
    searches are the faster equivalents of `nlp.affixes` (the same tokens).

    With `lexical_attributes` (the names rules will test), the blank pipeline computes only those and its own
    for new words (`nlp.lexemes`); a trained pipeline always computes all, as its models read them."""
    if spacy_model:
        try:
            nlp = spacy.load(spacy_model, exclude=["ner"])
        except OSError as exc:
            raise QualcodeError(
                f"spaCy model {spacy_model!r} is not installed (use the default blank pipeline)"
            ) from exc
        nlp.add_pipe("qualcode_paragraphs", first=True)
        if not ({"parser", "senter", "sentencizer"} & set(nlp.pipe_names)):
            nlp.add_pipe("sentencizer", after="qualcode_paragraphs")
            nlp.add_pipe("qualcode_annotations", after="sentencizer")
        speed_up_affixes(nlp.tokenizer)
        return fold_quotes_in_lower(nlp)
    nlp = spacy.blank("en")
    nlp.add_pipe("qualcode_sentences", name="sentencizer")  # paragraphs, sentencizer, annotations in one pass
    nlp.add_pipe("qualcode_lemmatizer", name="lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    if lexical_attributes is not None:
        keep_lexical_attributes(nlp, lexical_attributes)
    speed_up_affixes(nlp.tokenizer)
    return fold_quotes_in_lower(nlp)


# qualcode's components that write sentence starts and lemmas only through `nlp.columns.write_column`, or not at all
_SHARING_COMPONENTS = (SentenceSplitter, CaseFoldingLemmatizer, AnchoredSpanRuler, ConTextComponent)


def shares_written_columns(nlp: Language) -> bool:
    """Whether every component of the pipeline is one of qualcode's own that write sentence starts and lemmas only
    through `write_column`, so that a doc it runs on may share them (`nlp.columns.share_written_columns`): no
    other component can change them behind the shared copy. False for a trained pipeline."""
    return all(type(component) in _SHARING_COMPONENTS for _, component in nlp.pipeline)
