"""A doc's columns that are fixed once it is tokenised (ORTH, LOWER, lexical flags, IDX), read once and shared by
qualcode's components: each `Doc.to_array` column costs about 150 instructions a token (spaCy takes and releases
the GIL for every value), and the sentence components, the lemmatizer, the rulers, ConText and the segments read
the same few columns again and again.

Token attributes that components set (LEMMA, SENT_START, NORM, ...) are read afresh, with one exception: on a doc
marked by `share_written_columns` (done when every component of the pipeline is qualcode's own, which write sentence
starts and lemmas only through `write_column`), the sentence starts and lemmas qualcode's components write are kept
as written, so the rulers, ConText and the segments do not read them back. The cache lives in `doc.user_data`; it
stays right unless the doc is retokenised (then its length differs and the columns are read again) or a lexeme is
changed during a run.
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
WRITTEN = frozenset({attrs.SENT_START, attrs.LEMMA})  # the token values qualcode's own components write
_KEY = "qualcode.columns"
_SHARED = "qualcode.columns.shared"


def read_columns(doc: Doc, names: Sequence[int]) -> numpy.ndarray:
    """`doc.to_array(names)` as a (tokens, attributes) array of uint64 the caller may change, with the fixed
    columns read from the doc only the first time any component asks for them (and, on a shared doc, the
    sentence starts and lemmas as `write_column` wrote them)."""
    length = len(doc)
    found = _cache(doc)
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


def write_column(doc: Doc, attr: int, values: numpy.ndarray) -> Doc:
    """`doc.from_array([attr], values)`; on a doc marked by `share_written_columns` the values written (a
    sentence start or lemma column) are also what later reads of the column get, without reading them back."""
    doc.from_array([attr], values)
    found = _cache(doc)
    if attr in WRITTEN and doc.user_data.get(_SHARED):
        found[attr] = numpy.array(values, dtype="uint64").reshape(len(doc))  # a copy: the caller may change its own
    else:
        found.pop(attr, None)
    return doc


def _cache(doc: Doc) -> dict[int, numpy.ndarray]:
    """The doc's cached columns by attribute, emptied first if the doc's length changed since they were read."""
    cache = doc.user_data.get(_KEY)
    if cache is None or cache[0] != len(doc):
        cache = (len(doc), {})
        doc.user_data[_KEY] = cache
    return cache[1]


def share_written_columns(doc: Doc) -> None:
    """Keep the sentence starts and lemmas `write_column` writes to this doc for later reads. Only for a doc that
    no other code than qualcode's components will change those values of (the caller checks the pipeline)."""
    doc.user_data[_SHARED] = True


def forget_columns(doc: Doc) -> None:
    """Drop the doc's cached columns (when its last reader is done), so they do not outlive their use."""
    doc.user_data.pop(_KEY, None)
    doc.user_data.pop(_SHARED, None)
