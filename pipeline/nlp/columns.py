"""A doc's columns that are fixed once it is tokenised (ORTH, LOWER, lexical flags, IDX), read once and shared by
qualcode's components: each `Doc.to_array` column costs about 150 instructions a token (spaCy takes and releases
the GIL for every value), and the sentence components, the lemmatizer, the rulers, ConText and the segments read
the same few columns again and again.

Token attributes that components set (LEMMA, SENT_START, NORM, ...) are always read afresh. The cache lives in
`doc.user_data` and holds only values set by the tokenizer or by the words' lexemes, so it stays right unless the
doc is retokenised (then its length differs and the columns are read again) or a lexeme is changed during a run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy
from spacy import attrs
from spacy.tokens import Doc

# Lexeme values (a token's word decides them) and the token values only the tokenizer sets. Not NORM: a token can
# carry its own norm (tokenizer exceptions, components), which `to_array` gives instead of the word's.
FIXED = frozenset(
    {
        attrs.ORTH,
        attrs.LOWER,
        attrs.SHAPE,
        attrs.PREFIX,
        attrs.SUFFIX,
        attrs.LENGTH,
        attrs.IDX,
        attrs.SPACY,
        *(attrs.IDS[name] for name in attrs.IDS if name.startswith(("IS_", "LIKE_")) and attrs.IDS[name] < 64),
    }
)
_KEY = "qualcode.columns"


def read_columns(doc: Doc, names: Sequence[int]) -> numpy.ndarray:
    """`doc.to_array(names)` as a (tokens, attributes) array of uint64 the caller may change, with the fixed
    columns read from the doc only the first time any component asks for them."""
    length = len(doc)
    cache = doc.user_data.get(_KEY)
    if cache is None or cache[0] != length:
        cache = (length, {})
        doc.user_data[_KEY] = cache
    found: dict[int, numpy.ndarray] = cache[1]
    missing = [attr for attr in dict.fromkeys(names) if attr not in found]
    fresh: dict[int, numpy.ndarray] = {}
    if missing:
        rows = doc.to_array(missing).reshape(length, len(missing))
        for index, attr in enumerate(missing):
            fresh[attr] = rows[:, index]
            if attr in FIXED:
                found[attr] = rows[:, index].copy()
    out = numpy.empty((length, len(names)), dtype="uint64")
    for index, attr in enumerate(names):
        out[:, index] = fresh[attr] if attr in fresh else found[attr]
    return out


def read_column(doc: Doc, attr: int) -> numpy.ndarray:
    """One column of `read_columns`, as a 1-d array the caller may change."""
    return read_columns(doc, [attr])[:, 0]


def forget_columns(doc: Doc) -> None:
    """Drop the doc's cached columns (when its last reader is done), so they do not outlive their use."""
    doc.user_data.pop(_KEY, None)
