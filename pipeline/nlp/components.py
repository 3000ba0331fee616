"""spaCy components over token arrays: sentence starts, a sentencizer and a case-folding lookup lemmatizer that
give spaCy's own results faster."""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any

import numpy
from spacy.attrs import IS_PUNCT, IS_SPACE, LEMMA, LOWER, ORTH, SENT_START
from spacy.errors import Errors
from spacy.language import Language
from spacy.pipeline import Lemmatizer, Sentencizer
from spacy.strings import get_string_id
from spacy.tokens import Doc, Token
from spacy.util import minibatch

from pipeline.core.text import plain_quotes
from pipeline.nlp.arrays import find_sorted
from pipeline.nlp.columns import read_column, read_columns, write_column


def mark_sentence_starts(doc: Doc, positions: Iterable[int]) -> Doc:
    """Make these tokens sentence starts, leaving other tokens as they are, in one array write
    (spaCy's `Token.is_sent_start` setter scans the whole doc on every call)."""
    positions = [p for p in positions if 0 <= p < len(doc)]
    if positions:
        flags = read_column(doc, SENT_START)
        flags[positions] = 1
        write_column(doc, SENT_START, flags)
    return doc


def quote_folded_lower(string: str) -> str:
    """A word's LOWER form with straight quotes: "Didn’t" -> "didn't" (a vocab lexical attribute getter)."""
    return plain_quotes(string).lower()


def fold_quotes_in_lower(nlp: Language) -> Language:
    """Make the LOWER attribute, which phrases, token patterns and ConText triggers match on, see curly quotes as
    straight ones, so "didn’t" negates like "didn't"; token texts and offsets are unchanged.

    spaCy sets a word's LOWER once, when the vocab first sees it, with `vocab.lex_attr_getters`; the words the
    tokenizer's exceptions already added ("n’t", "’s") are updated in place."""
    nlp.vocab.lex_attr_getters[LOWER] = quote_folded_lower
    for lexeme in nlp.vocab:
        folded = quote_folded_lower(lexeme.orth_)
        if lexeme.lower_ != folded:
            lexeme.lower_ = folded
    return nlp


class CaseFoldingLemmatizer(Lemmatizer):
    """spaCy's lookup lemmatizer (spacy-lookups-data tables) that also tries the lowercase form, and
    otherwise gives the lowercase word: a sentence-initial "Tasks" or "Staff" matches LEMMA rules like
    "tasks" and "staff" do. Lemmas serve matching here, so they are lowercase, with straight quotes.

    In lookup mode it works on the doc's hash arrays with a cache per word form instead of one Token
    object per token: the same lemmas (tested against `lookup_lemmatize`), several times faster.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # every word form looked up so far (ORTH hashes, sorted) and its lemma's hash: a doc's lemmas are then
        # one binary search per distinct form, and only forms never seen before go through Python
        self._forms = numpy.empty(0, dtype="uint64")
        self._lemmas = numpy.empty(0, dtype="uint64")

    def lookup_lemmatize(self, token: Token) -> list[str]:
        return [self._lookup(token.text)]

    def _lookup(self, text: str, orth: int | None = None) -> str:
        """A form's lemma (`lemma_by_rule` on this lemmatizer's table)."""
        return lemma_by_rule(self._table_get(), text, orth)

    def _table_get(self) -> Callable[..., str | None]:
        """The lemma table's `get` by hash key (the table's own `get` hashes string keys first)."""
        table = self.lookups.get_table("lemma_lookup", {})
        return partial(OrderedDict.get, table) if isinstance(table, OrderedDict) else table.get

    def __call__(self, doc: Doc) -> Doc:
        if self.mode != "lookup" or not len(doc):
            return super().__call__(doc)
        self._lemmatize([doc])
        return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        """Lemmatise docs a batch at a time: one lookup of the batch's word forms, one update of the cache."""
        if self.mode != "lookup":
            yield from super().pipe(stream, batch_size=batch_size)
            return
        error_handler = self.get_error_handler()
        for docs in minibatch(stream, size=batch_size):
            try:
                self._lemmatize(docs)
                yield from docs
            except Exception as error:
                error_handler(self.name, self, docs, error)

    def _lemmatize(self, docs: list[Doc]) -> None:
        if not self._validated:
            self._validate_tables(Errors.E1004)
        docs = [doc for doc in docs if len(doc)]
        if not docs:
            return
        rows = numpy.concatenate([read_columns(doc, [ORTH, LEMMA]) for doc in docs])
        forms, inverse = numpy.unique(rows[:, 0], return_inverse=True)  # each word form looked up once
        at, known = find_sorted(self._forms, forms)
        if not known.all():
            self._learn(forms[~known], docs[0].vocab.strings)
            at, _ = find_sorted(self._forms, forms)
        lemmas = self._lemmas[at][inverse.reshape(-1)]
        if not self.overwrite:  # keep lemmas set before
            lemmas = numpy.where(rows[:, 1] != 0, rows[:, 1], lemmas)
        for doc, part in zip(docs, numpy.split(lemmas, numpy.cumsum([len(doc) for doc in docs[:-1]]))):
            write_column(doc, LEMMA, part)

    def _learn(self, forms: numpy.ndarray, strings: Any) -> None:
        """Look new (sorted, distinct) forms up and insert them and their lemmas' hashes into the cache."""
        get = self._table_get()
        found = [strings.add(lemma_by_rule(get, strings[orth], orth)) for orth in forms.tolist()]
        where = numpy.searchsorted(self._forms, forms)
        self._forms = numpy.insert(self._forms, where, forms)
        self._lemmas = numpy.insert(self._lemmas, where, numpy.asarray(found, dtype="uint64"))


def lemma_by_rule(get: Callable[..., str | None], text: str, orth: int | None = None) -> str:
    """A form's lemma: the table's (`get`, by hash) lemma of the form with straight quotes, else of its lowercase,
    else the lowercase. `orth`, the form's hash when known, is the key where quote folding leaves the form as it is,
    and a form already lowercase is looked up once, not twice."""
    plain = plain_quotes(text)
    lemma = get(orth if orth is not None and plain is text else get_string_id(plain))
    if lemma is None:
        lower = plain.lower()
        lemma = lower if lower == plain else get(get_string_id(lower), lower)
    return lemma


class ArraySentencizer(Sentencizer):
    """spaCy's sentencizer with the same rule, read from the doc's hash arrays instead of Token objects."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # ORTH hashes of sentence-final punctuation
        self._punct_keys = numpy.array(sorted(get_string_id(c) for c in self.punct_chars), dtype="uint64")

    def predict(self, docs: Iterable[Doc]) -> list[list[bool]]:
        """A token starts a sentence when it is not punctuation and the run of punctuation right before it
        holds one of `punct_chars` (spaCy's loop, as array operations); the first token always does."""
        guesses = []
        for doc in docs:
            rows = read_columns(doc, [ORTH, IS_PUNCT])
            guesses.append(self.guess(rows[:, 0], rows[:, 1]).tolist() if len(doc) else [])
        return guesses

    def set_annotations(self, docs: Iterable[Doc] | Doc, batch_tag_ids: list[list[bool]]) -> None:
        """spaCy's `set_annotations` (each guess sets a token's start, only where none is set unless `overwrite`),
        written through `write_column`, so a doc that shares its written columns gets them right."""
        for doc, tags in zip([docs] if isinstance(docs, Doc) else docs, batch_tag_ids):
            if not len(tags):
                continue
            flags = read_column(doc, SENT_START).view("int64")  # 1 start, -1 not a start, 0 unset
            self._set_guessed(flags[: len(tags)], numpy.asarray(tags, dtype=bool))
            write_column(doc, SENT_START, flags.view("uint64"))

    def _set_guessed(self, flags: numpy.ndarray, starts: numpy.ndarray) -> None:
        """Set sentence flags (changed in place: 1 start, -1 not) from guessed starts, only where none is set
        unless `overwrite`, as spaCy's sentencizer sets them."""
        unset = numpy.ones(len(flags), dtype=bool) if self.overwrite else flags == 0
        flags[unset] = numpy.where(starts[unset], 1, -1)

    def guess(self, orth: numpy.ndarray, is_punct: numpy.ndarray) -> numpy.ndarray:
        """`predict`'s sentence starts of one non-empty doc, from its ORTH and IS_PUNCT columns."""
        _, final = find_sorted(self._punct_keys, orth)
        word = ~(final | (is_punct != 0))
        positions = numpy.arange(len(orth))
        last_word = numpy.maximum.accumulate(numpy.where(word, positions, -1))  # last word at or before i
        finals_to = numpy.cumsum(final)  # punct_chars tokens up to and including i
        before = numpy.concatenate(([-1], last_word[:-1]))  # the last word before i
        finals_before = numpy.concatenate(([0], finals_to[:-1]))
        finals_since_word = finals_before - numpy.where(before >= 0, finals_to[numpy.maximum(before, 0)], 0)
        starts = word & (finals_since_word > 0)
        starts[0] = True
        return starts


class SentenceSplitter(ArraySentencizer):
    """qualcode's three sentence components in one pass over one read of the doc's arrays: paragraph breaks
    (`qualcode_paragraphs`), then spaCy's sentencizer rule (`qualcode_sentencizer`), then whole annotations
    (`qualcode_annotations`). The same sentence starts as running the three in turn, read and written once."""

    def __call__(self, doc: Doc) -> Doc:
        if not len(doc):
            return doc
        rows = read_columns(doc, [ORTH, IS_PUNCT, IS_SPACE, SENT_START])
        orth, is_space = rows[:, 0], rows[:, 2]
        flags = rows[:, 3].view("int64").copy()  # 1 start, -1 not a start, 0 unset
        flags[paragraph_starts(doc, orth, is_space)] = 1
        self._set_guessed(flags, self.guess(orth, rows[:, 1]))
        if "sents" in doc.user_hooks or len(doc) == 1 or (flags[1:] != 0).any():  # `has_annotation`, as before
            _keep_whole(flags, _annotation_spans(orth, is_space))
        write_column(doc, SENT_START, flags.view("uint64"))
        return doc


def paragraph_starts(doc: Doc, orth: numpy.ndarray, is_space: numpy.ndarray) -> list[int]:
    """The tokens right after a blank line (a whitespace token with two line breaks or more)."""
    if len(doc) < 2:
        return []
    strings = doc.vocab.strings
    return [p + 1 for p in numpy.flatnonzero(is_space[:-1]).tolist() if strings[int(orth[p])].count("\n") >= 2]


_BRACKETS = {get_string_id(open_): get_string_id(close) for open_, close in ("[]", "()")}
_ANNOTATION_TOKENS = 8  # at most this many tokens between the brackets: `[inaudible 00:12:40]`, `(long pause)`
_OPENING = numpy.array(sorted(_BRACKETS), dtype="uint64")
_BRACKET_KEYS = {*_BRACKETS, *_BRACKETS.values()}


def annotation_spans(doc: Doc) -> list[tuple[int, int]]:
    """Token ranges [start, end) of short bracketed or parenthesised groups on one line: transcriber annotations
    such as `[laughs]`, `[inaudible]`, `(pause)` (and short asides)."""
    if not len(doc):
        return []
    rows = read_columns(doc, [ORTH, IS_SPACE])
    return _annotation_spans(rows[:, 0], rows[:, 1])


def _annotation_spans(orth: numpy.ndarray, is_space: numpy.ndarray) -> list[tuple[int, int]]:
    """`annotation_spans` from a doc's ORTH and IS_SPACE columns. Only the tokens after an opening bracket are
    read (one array lookup finds them), not every token."""
    opening = numpy.flatnonzero(find_sorted(_OPENING, orth)[1]).tolist()
    spans: list[tuple[int, int]] = []
    reached = 0  # tokens before this are inside an annotation already found
    for index in opening:
        if index < reached:
            continue
        close = _BRACKETS[int(orth[index])]
        window = zip(
            orth[index + 1 : index + _ANNOTATION_TOKENS + 2].tolist(),
            is_space[index + 1 : index + _ANNOTATION_TOKENS + 2].tolist(),
        )
        for offset, (word, space) in enumerate(window):
            if word == close:
                if offset:  # at least one token between the brackets
                    spans.append((index, index + offset + 2))
                    reached = index + offset + 2
                break
            if word in _BRACKET_KEYS or space:
                break
    return spans


def keep_annotations_whole(doc: Doc) -> Doc:
    """No sentence starts inside an annotation: spaCy's sentencizer splits `It's Bergen. [laughs] So` after the
    `[`; the annotation stays with the sentence before it and the next one starts after it."""
    if not doc.has_annotation("SENT_START"):
        return doc
    flags = read_column(doc, SENT_START).view("int64")  # 1 start, -1 not a start, 0 unset
    if _keep_whole(flags, annotation_spans(doc)):
        write_column(doc, SENT_START, flags.view("uint64"))
    return doc


def _keep_whole(flags: numpy.ndarray, spans: list[tuple[int, int]]) -> bool:
    """Move sentence starts (`flags`, changed in place) out of these annotations; whether any moved."""
    moved_to = -1  # where the last annotation moved a sentence start: a run of annotations moves it again
    for start, end in spans:
        if start == moved_to or (flags[start + 1 : end] == 1).any():
            flags[start + (start != moved_to) : end] = -1
            if end < len(flags):
                flags[end] = 1
            moved_to = end
    return moved_to >= 0


def sentence_starts(doc: Doc) -> list[int]:
    """The first token of every sentence ([0]: the whole doc, when it has no sentences)."""
    if not doc.has_annotation("SENT_START"):
        return [0]
    if not len(doc):
        return []
    flags = read_column(doc, SENT_START)
    return [0, *(numpy.flatnonzero(flags[1:] == 1) + 1).tolist()]  # as `doc.sents`, without a Span per sentence


def sentence_lookup(doc: Doc, starts: list[int] | None = None):
    """Functions from a token index to its sentence's first token, and from that to the sentence's end
    (`starts`: the doc's `sentence_starts`, when known)."""
    starts = sentence_starts(doc) if starts is None else starts
    ends = dict(zip(starts, [*starts[1:], len(doc)]))
    return (lambda i: starts[bisect_right(starts, i) - 1]), ends.__getitem__
