"""Faster twins of spaCy's lexical attribute getters, giving the same values, so new words cost less to add.

spaCy calls every getter of `vocab.lex_attr_getters` once per new word form, in Python: on new text that is
about a fifth of tokenising. A few of spaCy's getters scan lists or characters in Python (`like_num` tests
membership in two lists of ~40 words, `is_ascii` loops over characters); the twins use sets and str methods,
and fall back to spaCy's own function where a fast path does not apply. Only a getter that is spaCy's own
function is replaced, so another language's (or a trained pipeline's) getters are kept.
"""

from __future__ import annotations

from collections.abc import Callable

from spacy import attrs
from spacy.lang import lex_attrs as common
from spacy.lang.en import lex_attrs as english
from spacy.language import Language

_NUMBER_WORDS = frozenset(english._num_words) | frozenset(english._ordinal_words)
_QUOTES = frozenset(('"', "'", "`", "«", "»", "‘", "’", "‚", "‛", "“", "”", "„", "‟", "‹", "›", "❮", "❯", "''", "``"))
_LEFT_PUNCT = frozenset(("(", "[", "{", "<", '"', "'", "«", "‘", "‚", "‛", "“", "„", "‟", "‹", "❮", "``"))
_RIGHT_PUNCT = frozenset((")", "]", "}", ">", '"', "'", "»", "’", "”", "›", "❯", "''"))
_URL_STARTS = ("http://", "https://")


def like_num(text: str) -> bool:
    """spaCy English `like_num`: an alphabetic word is a number only as a number or ordinal word."""
    if text.isalpha():
        return text.lower() in _NUMBER_WORDS
    return english.like_num(text)


def like_url(text: str) -> bool:
    """spaCy's `like_url`: a word without a full stop is a URL only when it starts with http:// or https://."""
    if text and "." not in text and not text.startswith(_URL_STARTS):
        return False
    return common.like_url(text)


def is_ascii(text: str) -> bool:
    """spaCy's `is_ascii`."""
    return text.isascii()


def is_quote(text: str) -> bool:
    """spaCy's `is_quote`, by a set."""
    return text in _QUOTES


def is_left_punct(text: str) -> bool:
    """spaCy's `is_left_punct`, by a set."""
    return text in _LEFT_PUNCT


def is_right_punct(text: str) -> bool:
    """spaCy's `is_right_punct`, by a set."""
    return text in _RIGHT_PUNCT


# spaCy's getter -> its twin, per attribute
TWINS: dict[int, tuple[Callable, Callable]] = {
    attrs.LIKE_NUM: (english.like_num, like_num),
    attrs.LIKE_URL: (common.like_url, like_url),
    attrs.IS_ASCII: (common.is_ascii, is_ascii),
    attrs.IS_QUOTE: (common.is_quote, is_quote),
    attrs.IS_LEFT_PUNCT: (common.is_left_punct, is_left_punct),
    attrs.IS_RIGHT_PUNCT: (common.is_right_punct, is_right_punct),
}


def use_fast_lex_attrs(nlp: Language) -> Language:
    """Replace those of the vocab's lexical attribute getters that are spaCy's own by their faster twins."""
    getters = nlp.vocab.lex_attr_getters
    for attr, (spacys, twin) in TWINS.items():
        if getters.get(attr) is spacys:
            getters[attr] = twin
    return nlp
