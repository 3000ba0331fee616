"""A SpanRuler that runs its token patterns as array programs (`nlp.token_patterns`), and those it cannot only in
sentences holding the words they require."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy
from spacy.attrs import LEMMA, LOWER, ORTH
from spacy.matcher import Matcher
from spacy.pipeline.span_ruler import SpanRuler
from spacy.tokens import Doc, Span
from spacy.util import minibatch

from pipeline.nlp.arrays import find_sorted
from pipeline.nlp.columns import read_column
from pipeline.nlp.components import sentence_starts
from pipeline.nlp.token_patterns import ArrayMatcher, TokenArrays

ANCHOR_ATTRS = {"LOWER": LOWER, "LEMMA": LEMMA, "ORTH": ORTH, "TEXT": ORTH}
REQUIRED_OPS = {None, "1", "+"}


def required_constraints(pattern: list[dict[str, Any]]) -> list[tuple[str, frozenset[str]]]:
    """The word constraints every match of a token pattern must meet: (attribute, allowed values) per token."""
    constraints = []
    for token in pattern:
        if token.get("OP") not in REQUIRED_OPS:
            continue
        for attr, value in token.items():
            key = attr.upper()
            if key not in ANCHOR_ATTRS:
                continue
            if isinstance(value, str):
                constraints.append((key, frozenset([value])))
            elif isinstance(value, dict) and set(value) == {"IN"} and all(isinstance(v, str) for v in value["IN"]):
                constraints.append((key, frozenset(value["IN"])))
    return constraints


class AnchoredSpanRuler(SpanRuler):
    """spaCy's span ruler, with token patterns matched within sentences (qualcode's segments are sentences, so
    nothing it uses is lost), faster and with the same spans.

    Token patterns of word values, flags and the usual operators run as array programs over the whole doc
    (`ArrayMatcher`). spaCy's Matcher, which tries every pattern at every token (microseconds each), runs the
    others, and only on sentences that hold every word the pattern requires.
    """

    def clear(self) -> None:
        """Remove every pattern (spaCy's `clear`, which its `__init__`, `initialize` and `from_bytes` call too)."""
        super().clear()
        self._clear_anchors()

    def add_patterns(self, patterns: list[dict[str, Any]]) -> None:
        super().add_patterns(patterns)
        self._anchor(patterns)

    def remove(self, label: str) -> None:
        """Remove the patterns with this label (ValueError if none has it); the anchor index follows."""
        super().remove(label)
        self._reanchor()

    def remove_by_id(self, pattern_id: str) -> None:
        """Remove the patterns with this id (ValueError if none has it); the anchor index follows."""
        super().remove_by_id(pattern_id)
        self._reanchor()

    def _reanchor(self) -> None:
        """Rebuild the anchor index from the patterns left (spaCy's own matchers are already up to date)."""
        self._clear_anchors()
        self._anchor(self.patterns)

    def _clear_anchors(self) -> None:
        self._array_matcher = ArrayMatcher(self.nlp.vocab)
        self._token_matchers: list[Matcher] = []
        self._required: list[int] = []  # per token pattern: how many word constraints it has
        self._unanchored: list[int] = []
        self._index: dict[tuple[int, int], list[tuple[int, int]]] = {}  # (attr, word) -> [(pattern, constraint)]
        # The index as arrays per attribute: sorted word hashes, and a CSR table of the constraints (numbered
        # across patterns) each word meets; anchored patterns and where their constraints' numbers start.
        self._anchors: dict[int, tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]] = {}
        self._anchored = numpy.zeros(0, dtype="int64")
        self._first_constraint = numpy.zeros(0, dtype="int64")

    def _anchor(self, patterns: list[dict[str, Any]]) -> None:
        """Compile each token pattern to an array program, or else give it its own spaCy matcher and index it by
        the words it requires."""
        strings = self.nlp.vocab.strings
        for entry in patterns:
            if not isinstance(entry["pattern"], list):
                continue
            key = repr((entry["label"], entry.get("id", "")))
            if self._array_matcher.add(strings.add(key), entry["pattern"]):
                continue
            matcher = Matcher(self.nlp.vocab, validate=self.validate)
            matcher.add(key, [entry["pattern"]])
            position = len(self._token_matchers)
            self._token_matchers.append(matcher)
            constraints = required_constraints(entry["pattern"])
            self._required.append(len(constraints))
            if not constraints:
                self._unanchored.append(position)
            for number, (attr, values) in enumerate(constraints):
                for value in values:
                    self._index.setdefault((ANCHOR_ATTRS[attr], strings.add(value)), []).append((position, number))
        anchored = [position for position, required in enumerate(self._required) if required]
        first = numpy.cumsum([0, *self._required])
        self._anchored = numpy.array(anchored, dtype="int64")
        self._first_constraint = first[anchored].astype("int64")
        self._anchors = {}
        for attr in sorted({attr for attr, _ in self._index}):
            keys = sorted(value for a, value in self._index if a == attr)
            entries = [self._index[(attr, key)] for key in keys]
            self._anchors[attr] = (
                numpy.array(keys, dtype="uint64"),
                numpy.cumsum([0, *map(len, entries)]).astype("int64"),
                numpy.array([first[position] + number for found in entries for position, number in found], "int64"),
            )

    def match(self, doc: Doc) -> list[Span]:
        return self._match_batch([doc])[0]

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        """Annotate docs in batches: the array programs run once over each batch, not once per doc."""
        error_handler = self.get_error_handler()
        for docs in minibatch(stream, size=batch_size):
            try:
                for doc, spans in zip(docs, self._match_batch(docs)):
                    self.set_annotations(doc, spans)
                    yield doc
            except Exception as error:
                error_handler(self.name, self, docs, error)

    def _match_batch(self, docs: list[Doc]) -> list[list[Span]]:
        """Each doc's spans, as spaCy's `match` gives them (deduplicated, sorted)."""
        if len(self._array_matcher):
            tokens = TokenArrays(docs, [sentence_starts(doc) for doc in docs])
            by_doc = tokens.by_doc(self._array_matcher(tokens))
        else:
            by_doc = [[] for _ in docs]
        return [self._spans(doc, matches) for doc, matches in zip(docs, by_doc)]

    def _spans(self, doc: Doc, matches: list[tuple[int, int, int]]) -> list[Span]:
        if len(self.phrase_matcher):
            matches.extend(self.phrase_matcher(doc))
        if self._token_matchers and len(doc):
            for start, end, candidates in self._candidates(doc):
                sentence = doc[start:end]
                for position in candidates:
                    matches.extend(
                        (key, start + s, start + e) for key, s, e in self._token_matchers[position](sentence)
                    )
        unique = {
            Span(
                doc,
                start,
                end,
                label=self._match_label_id_map[key]["label"],
                span_id=self._match_label_id_map[key]["id"],
            )
            for key, start, end in matches
            if start != end
        }
        return sorted(unique)

    def _candidates(self, doc: Doc) -> Iterator[tuple[int, int, list[int]]]:
        """Per sentence: the token patterns all of whose required word constraints some token in it meets
        (a necessary condition for a match there), found with array operations over the doc."""
        starts = numpy.array(sentence_starts(doc), dtype="int64")
        by_sentence: dict[int, list[int]] = {}
        if len(self._anchored):
            met = numpy.zeros((len(starts), int(self._first_constraint[-1]) + self._required[self._anchored[-1]]), bool)
            for attr, (keys, offsets, constraints) in self._anchors.items():
                column = read_column(doc, attr)
                word, found_here = find_sorted(keys, column)
                hits = numpy.flatnonzero(found_here)
                if not len(hits):
                    continue
                word = word[hits]
                counts = offsets[word + 1] - offsets[word]
                rows = numpy.repeat(offsets[word] - (numpy.cumsum(counts) - counts), counts) + numpy.arange(
                    counts.sum()
                )
                met[numpy.repeat(numpy.searchsorted(starts, hits, side="right") - 1, counts), constraints[rows]] = True
            required = numpy.array(self._required, dtype="int64")[self._anchored]
            complete = numpy.add.reduceat(met, self._first_constraint, axis=1) == required
            for sentence, pattern in zip(*(axis.tolist() for axis in numpy.nonzero(complete))):
                by_sentence.setdefault(sentence, []).append(int(self._anchored[pattern]))
        bounds = [*starts.tolist(), len(doc)]
        sentences = range(len(starts)) if self._unanchored else sorted(by_sentence)
        for sentence in sentences:
            candidates = sorted({*self._unanchored, *by_sentence.get(sentence, ())})
            yield bounds[sentence], bounds[sentence + 1], candidates
