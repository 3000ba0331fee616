"""ConText (negation, hypotheticals) as a spaCy component: triggers from the codebook mark theme spans in their
scope."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.util import minibatch

from pipeline.nlp.arrays import find_sorted
from pipeline.nlp.columns import read_column
from pipeline.nlp.components import sentence_lookup, sentence_starts
from pipeline.nlp.span_ruler import ANCHOR_ATTRS, required_constraints
from pipeline.nlp.token_patterns import ArrayMatcher, TokenArrays

NEGATED = "NEGATED_EXISTENCE"
HYPOTHETICAL = "HYPOTHETICAL"
PSEUDO = "PSEUDO"
TERMINATE = "TERMINATE"


@dataclass(frozen=True)
class _Trigger:
    start: int
    end: int
    category: str
    direction: str
    scope: int


@dataclass(frozen=True)
class _Work:
    """A doc with theme spans, and what marking them needs of its sentences (found once, in `pipe`)."""

    doc: Doc
    targets: list[Span]  # its theme spans
    starts: list[int]  # every sentence's first token
    sentence_of: Callable[[int], int]  # a token's sentence's first token
    sentences: list[tuple[int, int]]  # its sentences with a theme, as token ranges


class ConTextComponent:
    """Marks theme spans negated or hypothetical when a trigger's scope reaches them (ConText, Chapman et al.).

    Scope runs from the trigger FORWARD, BACKWARD or both, within the sentence, for at most `max_scope`
    tokens, and stops at a TERMINATE trigger. A trigger inside a longer one gives way to it (the PSEUDO
    "not only" cancels "not"). A trigger inside the theme span itself does not count ("no budget" stays a
    finding).
    """

    def __init__(
        self, nlp: Language, name: str, *, rules: list[dict[str, Any]], max_scope: int, spans_key: str
    ) -> None:
        self.name = name
        self.rules = rules
        self.max_scope = max_scope
        self.spans_key = spans_key
        self.phrases = PhraseMatcher(nlp.vocab, attr="LOWER")
        self._longest_phrase = 0  # tokens in the longest literal trigger
        self.patterns = Matcher(nlp.vocab, validate=True)  # those the array matcher cannot run
        self.array_patterns = ArrayMatcher(nlp.vocab)
        # Per token-pattern rule, the words it requires: (attribute, sorted hashes) per required token.
        self._required: list[list[tuple[int, numpy.ndarray]]] = []
        for index, rule in enumerate(rules):
            key = str(index)
            if rule.get("pattern"):
                Matcher(nlp.vocab, validate=True).add(key, [rule["pattern"]])  # spaCy's validation of the pattern
                if self.array_patterns.add(nlp.vocab.strings.add(key), rule["pattern"]):
                    continue
                self.patterns.add(key, [rule["pattern"]])
                self._required.append(
                    [
                        (ANCHOR_ATTRS[attr], numpy.array(sorted(nlp.vocab.strings.add(v) for v in values), "uint64"))
                        for attr, values in required_constraints(rule["pattern"])
                    ]
                )
            else:
                phrase = nlp.make_doc(rule["literal"])
                self.phrases.add(key, [phrase])
                self._longest_phrase = max(self._longest_phrase, len(phrase))
        for attribute in ("negated", "hypothetical"):
            if not Span.has_extension(attribute):
                Span.set_extension(attribute, default=False)
        if not Span.has_extension("context_trigger"):
            Span.set_extension("context_trigger", default="")

    def __call__(self, doc: Doc) -> Doc:
        return next(self.pipe([doc]))

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        """Mark docs in batches: the token-pattern triggers are found with one array program per batch."""
        for docs in minibatch(stream, size=batch_size):
            work: list[_Work] = []  # the docs with themes
            for doc in docs:
                targets = list(doc.spans[self.spans_key]) if self.spans_key in doc.spans else []
                if targets:
                    starts = sentence_starts(doc)
                    sentence_of, sentence_end = sentence_lookup(doc, starts)
                    themed = sorted({sentence_of(span.start) for span in targets})
                    work.append(_Work(doc, targets, starts, sentence_of, [(s, sentence_end(s)) for s in themed]))
            found: list[list[tuple[int, int, int]]] = [[] for _ in work]
            if work and len(self.array_patterns):
                offsets = numpy.cumsum([0, *(len(w.doc) for w in work)]).tolist()
                ranges = [(base + a, base + b) for w, base in zip(work, offsets) for a, b in w.sentences]
                tokens = TokenArrays(
                    [w.doc for w in work], [w.starts for w in work], start_at=_inside(ranges, offsets[-1])
                )
                found = tokens.by_doc(self.array_patterns(tokens))
            for item, matches in zip(work, found):
                self._mark(item, matches)
            yield from docs

    def _mark(self, work: _Work, matches: list[tuple[int, int, int]]) -> None:
        """Mark a doc's theme spans from its triggers (`matches`: the array programs' ones, in its sentences with a
        theme)."""
        doc, sentence_of = work.doc, work.sentence_of
        by_sentence: dict[int, list[_Trigger]] = {}
        for trigger in self._triggers(doc, work.sentences, matches):
            by_sentence.setdefault(sentence_of(trigger.start), []).append(trigger)
        for span in work.targets:
            nearby = by_sentence.get(sentence_of(span.start), [])
            for trigger in nearby:
                if trigger.category in (PSEUDO, TERMINATE) or not self._reaches(trigger, span, nearby):
                    continue
                if trigger.category == NEGATED:
                    span._.negated = True
                else:
                    span._.hypothetical = True
                span._.context_trigger = doc[trigger.start : trigger.end].text  # read only for triggers that mark

    def _triggers(
        self, doc: Doc, sentences: list[tuple[int, int]], matches: list[tuple[int, int, int]]
    ) -> list[_Trigger]:
        """Trigger matches in the given sentences (those with a theme, as token ranges, in order): the array
        programs' `matches` there, phrases matched around them (`_windows`) and kept where they touch one, spaCy's token
        patterns run only in those that hold every word the pattern requires."""
        starts = [start for start, _ in sentences]
        if len(self.phrases):
            phrases = (
                m for a, b in _windows(sentences, self._longest_phrase, len(doc)) for m in self.phrases(doc[a:b])
            )
            matches = [*matches, *(m for m in phrases if _touches(m[1], m[2], sentences, starts))]
        if len(self.patterns):
            for start, end in self._pattern_sentences(doc, sentences):
                matches.extend((key, start + s, start + e) for key, s, e in self.patterns(doc[start:end]))
        found: list[_Trigger] = []
        for match_id, start, end in matches:
            rule = self.rules[int(doc.vocab.strings[match_id])]
            found.append(
                _Trigger(
                    start,
                    end,
                    rule["category"],
                    rule["direction"],
                    rule.get("max_scope") or self.max_scope,
                )
            )
        # A trigger inside a longer one gives way to it (a PSEUDO "not only" cancels "not"; a negating
        # "wouldn't say" overrides the hypothetical "would" it contains), as in ConText implementations.
        longest = max((t.end - t.start for t in found), default=0)
        starting: dict[int, list[_Trigger]] = {}
        for trigger in found:
            starting.setdefault(trigger.start, []).append(trigger)
        kept = [
            t
            for t in found
            if not any(
                _covers(other, t) for start in range(t.end - longest, t.start + 1) for other in starting.get(start, ())
            )
        ]
        return sorted(kept, key=lambda t: (t.start, t.end))

    def _pattern_sentences(self, doc: Doc, sentences: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The sentences where some token-pattern rule could match: each required word occurs in them."""
        if not sentences:
            return []
        starts = numpy.array([start for start, _ in sentences], dtype="int64")
        columns: dict[int, numpy.ndarray] = {}
        possible: set[int] = set()
        for required in self._required:
            found = set(range(len(sentences)))
            for attr, keys in required:
                if attr not in columns:
                    columns[attr] = read_column(doc, attr)
                column = columns[attr]
                word, found_here = find_sorted(keys, column)
                hits = numpy.flatnonzero(found_here)
                index = numpy.searchsorted(starts, hits, side="right") - 1
                inside = index >= 0
                inside[inside] = hits[inside] < numpy.array([end for _, end in sentences])[index[inside]]
                found &= set(index[inside].tolist())
            possible |= found
        return [sentences[index] for index in sorted(possible)]

    @staticmethod
    def _reaches(trigger: _Trigger, span: Span, sentence_triggers: Iterable[_Trigger]) -> bool:
        """Whether the trigger's scope (same sentence, direction, distance, no terminator between) covers the span."""
        if trigger.start < span.end and span.start < trigger.end:
            return False
        forward = trigger.end <= span.start and trigger.direction in ("FORWARD", "BIDIRECTIONAL")
        backward = trigger.start >= span.end and trigger.direction in ("BACKWARD", "BIDIRECTIONAL")
        if forward:
            gap = (trigger.end, span.start)
        elif backward:
            gap = (span.end, trigger.start)
        else:
            return False
        if gap[1] - gap[0] > trigger.scope:
            return False
        return not any(t.category == TERMINATE and gap[0] <= t.start and t.end <= gap[1] for t in sentence_triggers)


def _inside(ranges: list[tuple[int, int]], length: int) -> numpy.ndarray:
    """Per token of `length`: whether it lies in one of these disjoint token ranges."""
    marks = numpy.zeros(length + 1, dtype="int64")
    bounds = numpy.array(ranges, dtype="int64").reshape(-1, 2)
    numpy.add.at(marks, bounds[:, 0], 1)
    numpy.add.at(marks, bounds[:, 1], -1)
    return numpy.cumsum(marks[:-1]) > 0


def _windows(sentences: list[tuple[int, int]], longest: int, length: int) -> list[tuple[int, int]]:
    """The token ranges that hold every match of at most `longest` tokens overlapping one of these sentences (sorted,
    disjoint): each sentence widened by `longest - 1` on both sides, those that overlap or touch merged. A phrase
    matcher run on each finds the matches it finds on the whole doc that overlap a sentence (and some others)."""
    windows: list[tuple[int, int]] = []
    reach = max(longest - 1, 0)
    for start, end in sentences:
        start, end = max(start - reach, 0), min(end + reach, length)
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], end))
        else:
            windows.append((start, end))
    return windows


def _touches(start: int, end: int, sentences: list[tuple[int, int]], starts: list[int]) -> bool:
    """Whether tokens start..end overlap one of the sentences (sorted, disjoint token ranges)."""
    index = bisect_right(starts, start) - 1
    if index >= 0 and start < sentences[index][1]:
        return True
    return index + 1 < len(sentences) and sentences[index + 1][0] < end


def _covers(outer: _Trigger, inner: _Trigger) -> bool:
    """Whether `outer` is a longer trigger containing `inner`."""
    return outer.start <= inner.start and inner.end <= outer.end and outer.end - outer.start > inner.end - inner.start
