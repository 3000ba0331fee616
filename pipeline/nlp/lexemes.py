"""Which lexical attributes the vocab computes for each new word: those something reads, not all 23 of spaCy's.

spaCy calls every getter in `vocab.lex_attr_getters` (Python functions: `like_num`, `word_shape`, ...) once per
new word, about a fifth of the time it takes to tokenise text it has not seen. qualcode's blank pipeline reads
only a few of them (the sentence components, the rulers and ConText) and the codebook's token patterns name
others; the rest are never read, so they need not be computed. Attributes that are not computed read as spaCy's
empty values (0, False, "") on words first seen after `keep_lexical_attributes`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from spacy import attrs
from spacy.lang.en import lex_attrs as english
from spacy.language import Language

# What qualcode's own components read: LOWER (phrases, token patterns, ConText), IS_PUNCT (sentence ends),
# IS_SPACE (paragraph breaks). Not NORM: nothing reads it unless a rule names it (then it is computed), and the
# norms spaCy's tokenizer exceptions give their tokens ("n't" -> "not") are set on the tokens, not by the getter.
PIPELINE_ATTRIBUTES = frozenset({"LOWER", "IS_PUNCT", "IS_SPACE"})


def keep_lexical_attributes(nlp: Language, names: Collection[str]) -> Language:
    """Compute only these lexical attributes (spaCy names, e.g. "LIKE_NUM") and qualcode's own for new words."""
    wanted = {attrs.IDS[name.upper()] for name in {*names, *PIPELINE_ATTRIBUTES} if name.upper() in attrs.IDS}
    getters = nlp.vocab.lex_attr_getters
    for attr in [attr for attr in getters if attr not in wanted]:
        del getters[attr]
    if getters.get(attrs.LIKE_NUM) is english.like_num and (words := _english_number_words()):
        getters[attrs.LIKE_NUM] = LettersFirstLikeNum(english.like_num, words)
    return nlp


class LettersFirstLikeNum:
    """spaCy's English LIKE_NUM getter, answered without it for a word of letters only: such a word has no sign,
    separator or digit for `like_num` to find, so it is number-like exactly when its lowercase form is a number
    or ordinal word. Most new words are letters only, and `like_num` looks them up in two lists (1.8 us a word)."""

    def __init__(self, like_num: Callable[[str], bool], words: frozenset[str]) -> None:
        self.like_num = like_num
        self.words = words

    def __call__(self, text: str) -> bool:
        if text.isalpha():
            return text.lower() in self.words
        return self.like_num(text)


def _english_number_words() -> frozenset[str]:
    """The words spaCy's English `like_num` looks up (empty if its module no longer has the lists)."""
    lists = [getattr(english, name, None) for name in ("_num_words", "_ordinal_words")]
    return (
        frozenset(word for found in lists for word in found) if all(isinstance(x, list) for x in lists) else frozenset()
    )
