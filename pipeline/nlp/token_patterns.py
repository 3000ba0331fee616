"""spaCy Matcher token patterns run as array operations over a doc's hash arrays: the same matches as spaCy's
Matcher within each sentence, without a Token object or a Python predicate call per token.

A pattern that uses anything else than word values (ORTH/TEXT, LOWER, LEMMA, NORM: a string, `IN`, `NOT_IN`,
`REGEX`), boolean lexical flags (IS_PUNCT, LIKE_NUM, ...), wildcards `{}` and the operators `1 ? * + !` is refused by
`ArrayMatcher.add`, and its caller keeps spaCy's Matcher for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy
from spacy import attrs
from spacy.attrs import LEMMA, LOWER, NORM, ORTH
from spacy.strings import StringStore
from spacy.tokens import Doc
from spacy.vocab import Vocab

from pipeline.nlp.columns import read_column, read_columns

WORD_ATTRS = {"ORTH": ORTH, "TEXT": ORTH, "LOWER": LOWER, "LEMMA": LEMMA, "NORM": NORM}
FLAG_ATTRS = {
    name: getattr(attrs, name)
    for name in (
        "IS_ALPHA",
        "IS_ASCII",
        "IS_DIGIT",
        "IS_LOWER",
        "IS_UPPER",
        "IS_TITLE",
        "IS_PUNCT",
        "IS_SPACE",
        "IS_STOP",
        "IS_BRACKET",
        "IS_QUOTE",
        "IS_LEFT_PUNCT",
        "IS_RIGHT_PUNCT",
        "IS_CURRENCY",
        "LIKE_NUM",
        "LIKE_URL",
        "LIKE_EMAIL",
    )
}
_LOW_MASK = numpy.uint64(0xFFFF)
OPS = {None: "1", "1": "1", "?": "?", "*": "*", "+": "+", "!": "!"}


@dataclass(frozen=True)
class _Word:
    """A word-value test: the token's attribute is (`negate=False`) or is not one of `values` (string hashes)."""

    attr: int
    values: frozenset[int]
    negate: bool


@dataclass(frozen=True)
class _Regex:
    """A regular expression searched in the token's attribute string (as spaCy's REGEX predicate does)."""

    attr: int
    pattern: re.Pattern


@dataclass(frozen=True)
class _Element:
    """One pattern token: its tests (all must hold) and its operator."""

    words: tuple[_Word, ...]
    regexes: tuple[_Regex, ...]
    flags: tuple[tuple[int, int], ...]  # (flag attribute, required value 0/1)
    op: str


def compile_pattern(pattern: Sequence[dict[str, Any]], vocab: Vocab) -> list[_Element] | None:
    """The pattern as elements, or None when it uses something the array matcher does not do."""
    elements = []
    for token in pattern:
        if not isinstance(token, dict):
            return None
        words, regexes, flags, op = [], [], [], "1"
        for key, value in token.items():
            name = key.upper()
            if name == "OP":
                if value not in OPS:
                    return None
                op = OPS[value]
            elif name in WORD_ATTRS and isinstance(value, dict) and list(value) == ["REGEX"]:
                if not isinstance(value["REGEX"], str):
                    return None
                regexes.append(_Regex(WORD_ATTRS[name], re.compile(value["REGEX"])))
            elif name in WORD_ATTRS:
                test = _word_test(WORD_ATTRS[name], value, vocab)
                if test is None:
                    return None
                words.append(test)
            elif name in FLAG_ATTRS and isinstance(value, bool):
                flags.append((FLAG_ATTRS[name], int(value)))
            else:
                return None
        elements.append(_Element(tuple(words), tuple(regexes), tuple(flags), op))
    return elements if elements else None


def _word_test(attr: int, value: Any, vocab: Vocab) -> _Word | None:
    if isinstance(value, str):
        return _Word(attr, frozenset([vocab.strings.add(value)]), negate=False)
    if isinstance(value, dict) and len(value) == 1:
        (predicate, values), *_ = value.items()
        if predicate in ("IN", "NOT_IN") and isinstance(values, list) and all(isinstance(v, str) for v in values):
            return _Word(attr, frozenset(vocab.strings.add(v) for v in values), negate=predicate == "NOT_IN")
    return None


class TokenArrays:
    """What the array matcher reads of a batch of docs, end to end: attribute columns (read once each), where each
    token's sentence ends, and optionally which tokens a match may start at."""

    def __init__(
        self,
        docs: Sequence[Doc],
        sentence_starts: Sequence[Sequence[int]],
        *,
        start_at: numpy.ndarray | None = None,
    ) -> None:
        self.docs = docs
        self.offsets = numpy.cumsum([0, *map(len, docs)]).astype("int64")  # where each doc begins in the batch
        self.length = int(self.offsets[-1])
        bounds = numpy.unique(
            numpy.concatenate(
                [self.offsets, *(numpy.asarray(s, dtype="int64") + o for s, o in zip(sentence_starts, self.offsets))]
            )
        )
        self.sentence_end = numpy.repeat(bounds[1:], numpy.diff(bounds))  # per token: its sentence's end
        self.start_at = start_at  # bool per token, or None: anywhere
        self._columns: dict[int, numpy.ndarray] = {}

    def read(self, attrs: Sequence[int]) -> None:
        """Read these columns, each doc's in one pass (`column` reads one at a time)."""
        attrs = [attr for attr in dict.fromkeys(attrs) if attr not in self._columns]
        if attrs and self.docs:
            rows = numpy.concatenate([read_columns(doc, attrs) for doc in self.docs])
            self._columns.update((attr, rows[:, index].copy()) for index, attr in enumerate(attrs))

    def column(self, attr: int) -> numpy.ndarray:
        if attr not in self._columns:
            self._columns[attr] = numpy.concatenate(
                [read_column(doc, attr) for doc in self.docs] or [numpy.zeros(0, "uint64")]
            )
        return self._columns[attr]

    def by_doc(self, matches: list[tuple[Any, int, int]]) -> list[list[tuple[Any, int, int]]]:
        """The batch's matches per doc, with token positions in that doc."""
        found: list[list[tuple[Any, int, int]]] = [[] for _ in self.docs]
        if matches:
            where = numpy.searchsorted(self.offsets, [start for _, start, _ in matches], side="right") - 1
            for (key, start, end), index in zip(matches, where.tolist()):
                base = int(self.offsets[index])
                found[index].append((key, start - base, end - base))
        return found


class ArrayMatcher:
    """Token patterns as array programs: for every pattern, the (start, end) token ranges within one sentence that
    spaCy's Matcher would return (all of them, as the span ruler asks: no greedy filter), found for all starts at
    once. Word tests become lookups in small tables indexed by each token's position in the sorted list of every
    word the patterns name, so a doc costs one search per attribute, whatever the number of patterns."""

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab
        self._patterns: list[tuple[Any, list[_Element]]] = []
        self._program: _Program | None = None

    def __len__(self) -> int:
        return len(self._patterns)

    def add(self, key: Any, pattern: Sequence[dict[str, Any]]) -> bool:
        """Add a pattern under `key`; False (nothing added) when it needs spaCy's Matcher."""
        elements = compile_pattern(pattern, self.vocab)
        if elements is None:
            return False
        self._patterns.append((key, elements))
        self._program = None
        return True

    def __call__(self, tokens: TokenArrays) -> list[tuple[Any, int, int]]:
        """Every match as (key, start, end), by pattern in the order added, then by start and end."""
        if not self._patterns or not tokens.length:
            return []
        if self._program is None:
            self._program = _Program(self._patterns, self.vocab.strings)
        return self._program.run(tokens)


class _Program:
    """The patterns compiled against the sorted words they name, per attribute."""

    def __init__(self, patterns: list[tuple[Any, list[_Element]]], strings: StringStore) -> None:
        self.patterns = patterns
        self.strings = strings
        self._regex_found: dict[_Regex, dict[int, bool]] = {}
        named: dict[int, set[int]] = {}
        for _, elements in patterns:
            for element in elements:
                for word in element.words:
                    named.setdefault(word.attr, set()).update(word.values)
        self.keys = {attr: numpy.array(sorted(values), dtype="uint64") for attr, values in named.items()}
        self._low_bits = {}  # per attribute: which values of a hash's low bits some key has
        for attr, keys in self.keys.items():
            self._low_bits[attr] = numpy.zeros(_LOW_MASK + 1, dtype=bool)
            self._low_bits[attr][keys & _LOW_MASK] = True
        self._tables: dict[_Word, numpy.ndarray] = {}
        self.attrs = [*self.keys]  # every column the patterns read
        for _, elements in patterns:
            for element in elements:
                self.attrs.extend([*(regex.attr for regex in element.regexes), *(flag for flag, _ in element.flags)])
        for _, elements in patterns:
            for element in elements:
                for word in element.words:
                    keys = self.keys[word.attr]
                    table = numpy.zeros(len(keys) + 1, dtype=bool)  # the last slot: a word no pattern names
                    table[numpy.searchsorted(keys, numpy.array(sorted(word.values), dtype="uint64"))] = True
                    self._tables[word] = ~table if word.negate else table

    def run(self, tokens: TokenArrays) -> list[tuple[Any, int, int]]:
        tokens.read(self.attrs)
        words = {attr: self._word_numbers(tokens.column(attr), attr) for attr in self.keys}
        index: dict[int, tuple[numpy.ndarray, numpy.ndarray]] = {}

        def positions(word: _Word) -> numpy.ndarray:
            """The tokens passing a (positive) word test, in order, from the inverted index."""
            if word.attr not in index:
                numbers = words[word.attr]
                named = numpy.flatnonzero(numbers < len(self.keys[word.attr]))
                order = named[numpy.argsort(numbers[named], kind="stable")]
                counts = numpy.bincount(numbers[named], minlength=len(self.keys[word.attr]))
                index[word.attr] = (order, numpy.concatenate(([0], numpy.cumsum(counts))))
            order, offsets = index[word.attr]
            numbers = numpy.searchsorted(self.keys[word.attr], numpy.array(sorted(word.values), dtype="uint64"))
            found = [order[offsets[n] : offsets[n + 1]] for n in numbers.tolist()]
            return numpy.sort(numpy.concatenate(found)) if found else numpy.zeros(0, dtype="int64")

        def passes(element: _Element, at: numpy.ndarray) -> numpy.ndarray:
            tests = [
                *(self._tables[word][words[word.attr][at]] for word in element.words),
                *(self._searched(regex, tokens.column(regex.attr)[at]) for regex in element.regexes),
                *(tokens.column(flag)[at] == value for flag, value in element.flags),
            ]
            if not tests:
                return numpy.ones(len(at), dtype=bool)
            ok = tests[0]  # a fresh array: each test's result is one
            for test in tests[1:]:
                ok &= test
            return ok

        found: list[tuple[Any, int, int]] = []
        for key, elements in self.patterns:
            starts = self._starts(elements, positions, tokens.length)
            if tokens.start_at is not None:
                starts = starts[tokens.start_at[starts]]
            if not len(starts):
                continue
            for start, end in _run(elements, starts, tokens.sentence_end, passes, tokens.length):
                found.append((key, start, end))
        return found

    def _searched(self, regex: _Regex, values: numpy.ndarray) -> numpy.ndarray:
        """Whether the regex is found in each value's string, each distinct string searched once per program."""
        found = self._regex_found.setdefault(regex, {})
        strings = self.strings
        return numpy.array(
            [
                found[value] if value in found else found.setdefault(value, bool(regex.pattern.search(strings[value])))
                for value in values.tolist()
            ],
            dtype=bool,
        )

    def _word_numbers(self, column: numpy.ndarray, attr: int) -> numpy.ndarray:
        """Per token: its word's position in the attribute's sorted keys, or len(keys) for a word no pattern
        names. Only tokens whose hash has the low bits of some key are searched for (a few percent)."""
        keys, low_bits = self.keys[attr], self._low_bits[attr]
        numbers = numpy.full(len(column), len(keys), dtype="int64")
        maybe = numpy.flatnonzero(low_bits[column & _LOW_MASK])
        if len(maybe):
            values = column[maybe]
            at = numpy.minimum(numpy.searchsorted(keys, values), len(keys) - 1)
            named = keys[at] == values
            numbers[maybe[named]] = at[named]
        return numbers

    @staticmethod
    def _starts(elements: list[_Element], positions: Callable, length: int) -> numpy.ndarray:
        """Where a match can start: a token the first consuming element accepts. Elements up to the first
        required one may each consume the first token; one without a positive word test could start anywhere."""
        found = []
        for element in elements:
            positive = [word for word in element.words if not word.negate]
            if element.op == "!" or not positive:
                return numpy.arange(length, dtype="int64")
            found.append(positions(positive[0]))
            if element.op in ("1", "+"):
                break
        if len(found) == 1:
            return found[0].astype("int64")  # sorted, and each token has one word
        return numpy.unique(numpy.concatenate(found)).astype("int64")


def _run(
    elements: list[_Element],
    starts: numpy.ndarray,
    sentence_end: numpy.ndarray,
    passes: Callable[[_Element, numpy.ndarray], numpy.ndarray],
    length: int,
) -> list[tuple[int, int]]:
    """Every (start, end) at which the elements match consecutively from `starts`, within each start's sentence:
    partial matches move through the pattern together, as arrays of starts and ends."""
    begin, end = starts, starts.copy()
    limit = sentence_end[starts]

    def step(element: _Element, begin, end, limit):
        """Partial matches extended by one token the element accepts (or, for `!`, refuses)."""
        inside = end < limit
        if not inside.all():  # some have reached their sentence's end: drop them first (rare)
            begin, end, limit = begin[inside], end[inside], limit[inside]
        ok = passes(element, end)
        if element.op == "!":
            ok = ~ok
        return begin[ok], end[ok] + 1, limit[ok]

    for element in elements:
        if element.op in ("1", "!"):
            begin, end, limit = step(element, begin, end, limit)
        else:
            parts = [(begin, end, limit)] if element.op in ("?", "*") else []
            frontier = step(element, begin, end, limit)
            while len(frontier[0]):
                parts.append(frontier)
                if element.op == "?":
                    break
                frontier = step(element, *frontier)
            if not parts:
                return []
            begin, end, limit = (numpy.concatenate(column) for column in zip(*parts))
            begin, end, limit = _unique(begin, end, limit)
        if not len(begin):
            return []
    keep = end > begin
    pairs = _unique(begin[keep], end[keep], limit[keep])
    return list(zip(pairs[0].tolist(), pairs[1].tolist()))


def _unique(begin: numpy.ndarray, end: numpy.ndarray, limit: numpy.ndarray):
    """The distinct (start, end) pairs, sorted (the limit follows the start)."""
    if len(begin) < 2:
        return begin, end, limit
    order = numpy.lexsort((end, begin))
    begin, end, limit = begin[order], end[order], limit[order]
    fresh = numpy.ones(len(begin), dtype=bool)
    fresh[1:] = (begin[1:] != begin[:-1]) | (end[1:] != end[:-1])
    return begin[fresh], end[fresh], limit[fresh]
