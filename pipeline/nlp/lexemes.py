"""Which lexical attributes the vocab computes for each new word: those something reads, not all 23 of spaCy's.

spaCy calls every getter in `vocab.lex_attr_getters` (Python functions: `like_num`, `word_shape`, ...) once per
new word, about a fifth of the time it takes to tokenise text it has not seen. qualcode's blank pipeline reads
only a few of them (the sentence components, the rulers and ConText) and the codebook's token patterns name
others; the rest are never read, so they need not be computed. Attributes that are not computed read as spaCy's
empty values (0, False, "") on words first seen after `keep_lexical_attributes`.
"""

from __future__ import annotations

from collections.abc import Collection

from spacy import attrs
from spacy.language import Language

# What qualcode's own components read: LOWER (phrases, token patterns, ConText), IS_PUNCT (sentence ends),
# IS_SPACE (paragraph breaks); NORM, which spaCy's tokenizer exceptions set too.
PIPELINE_ATTRIBUTES = frozenset({"LOWER", "NORM", "IS_PUNCT", "IS_SPACE"})


def keep_lexical_attributes(nlp: Language, names: Collection[str]) -> Language:
    """Compute only these lexical attributes (spaCy names, e.g. "LIKE_NUM") and qualcode's own for new words."""
    wanted = {attrs.IDS[name.upper()] for name in {*names, *PIPELINE_ATTRIBUTES} if name.upper() in attrs.IDS}
    getters = nlp.vocab.lex_attr_getters
    for attr in [attr for attr in getters if attr not in wanted]:
        del getters[attr]
    return nlp
