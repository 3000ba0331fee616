"""A SpanRuler that runs each token pattern only in sentences holding the words it requires."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy
from spacy.attrs import LEMMA, LOWER, ORTH
from spacy.matcher import Matcher
from spacy.pipeline.span_ruler import SpanRuler
from spacy.tokens import Doc, Span

from pipeline.nlp.components import sentence_starts

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
    """spaCy's span ruler, but a token pattern only runs on sentences that hold every word it requires.

    spaCy's Matcher tries every token pattern at every token (microseconds each); most patterns need
    rarer words, so looking them up first gives the same spans at a fraction of the cost. Token patterns
    match within sentences (qualcode's segments are sentences, so nothing it uses is lost).
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
        self._token_matchers: list[Matcher] = []
        self._required: list[int] = []
        self._index: dict[tuple[int, int], list[tuple[int, int]]] = {}
        self._unanchored: list[int] = []
        self._anchor_keys: dict[int, numpy.ndarray] = {}  # attribute -> hashes of the index's words, for isin

    def _anchor(self, patterns: list[dict[str, Any]]) -> None:
        """Give each token pattern its own matcher and index it by the words it requires."""
        strings = self.nlp.vocab.strings
        for entry in patterns:
            if not isinstance(entry["pattern"], list):
                continue
            matcher = Matcher(self.nlp.vocab, validate=self.validate)
            matcher.add(repr((entry["label"], entry.get("id", ""))), [entry["pattern"]])
            position = len(self._token_matchers)
            self._token_matchers.append(matcher)
            constraints = self._selective(required_constraints(entry["pattern"]))
            self._required.append(len(constraints))
            if not constraints:
                self._unanchored.append(position)
            for number, (attr, values) in enumerate(constraints):
                for value in values:
                    self._index.setdefault((ANCHOR_ATTRS[attr], strings.add(value)), []).append((position, number))
        keys: dict[int, list[int]] = {}
        for attr, value in self._index:
            keys.setdefault(attr, []).append(value)
        self._anchor_keys = {attr: numpy.array(values, dtype="uint64") for attr, values in keys.items()}

    def _selective(self, constraints: list[tuple[str, frozenset[str]]]) -> list[tuple[str, frozenset[str]]]:
        """The constraints worth looking up: those with no stop word among their values, else all of them
        (any subset of the required constraints is still a necessary condition, so no match is lost)."""
        vocab = self.nlp.vocab
        content = [c for c in constraints if not any(vocab[value.lower()].is_stop for value in c[1])]
        return content or constraints

    def match(self, doc: Doc) -> list[Span]:
        matches = list(self.phrase_matcher(doc)) if len(self.phrase_matcher) else []
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
        """Per sentence: the token patterns whose required words all occur in it."""
        starts = numpy.array(sentence_starts(doc))
        met: dict[tuple[int, int], set[int]] = {}
        for attr, keys in self._anchor_keys.items():
            column = doc.to_array([attr])
            hits = numpy.flatnonzero(numpy.isin(column, keys))
            sentences = numpy.searchsorted(starts, hits, side="right") - 1
            for sentence, value in zip(sentences.tolist(), column[hits].tolist()):
                for position, number in self._index[(attr, value)]:
                    met.setdefault((sentence, position), set()).add(number)
        by_sentence: dict[int, set[int]] = {}
        for (sentence, position), numbers in met.items():
            if len(numbers) == self._required[position]:
                by_sentence.setdefault(sentence, set()).add(position)
        bounds = [*starts.tolist(), len(doc)]
        sentences = range(len(starts)) if self._unanchored else sorted(by_sentence)
        for sentence in sentences:
            candidates = sorted({*self._unanchored, *by_sentence.get(sentence, ())})
            yield bounds[sentence], bounds[sentence + 1], candidates
