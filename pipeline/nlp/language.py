"""The spaCy pipeline qualcode segments with: blank English plus its components, or an installed trained pipeline."""

from __future__ import annotations

import spacy
from spacy.language import Language

from pipeline.core.errors import QualcodeError
from pipeline.nlp import factories  # noqa: F401  (registers qualcode's components)
from pipeline.nlp.components import fold_quotes_in_lower


def make_nlp(*, spacy_model: str | None = None) -> Language:
    """spaCy pipeline for segmenting: blank English + sentences (paragraphs, sentencizer rule, annotations) +
    lookup lemmatizer (spacy-lookups-data, with a lowercase fallback),
    or an installed trained pipeline; either way LOWER folds curly quotes."""
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
        return fold_quotes_in_lower(nlp)
    nlp = spacy.blank("en")
    nlp.add_pipe("qualcode_sentences", name="sentencizer")  # paragraphs, sentencizer, annotations in one pass
    nlp.add_pipe("qualcode_lemmatizer", name="lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    return fold_quotes_in_lower(nlp)
