"""qualcode's spaCy components, registered in one place: paragraph breaks, ConText, the anchored span ruler."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from functools import partial
from typing import Any, Iterable, Iterator

import numpy
from spacy.attrs import IS_PUNCT, IS_SPACE, LEMMA, LOWER, ORTH, SENT_START
from spacy.errors import Errors
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.pipeline.span_ruler import SpanRuler, overlapping_labeled_spans_score
from spacy.pipeline import Lemmatizer, Sentencizer
from spacy.strings import get_string_id
from spacy.tokens import Doc, Span, Token

NEGATED = "NEGATED_EXISTENCE"
HYPOTHETICAL = "HYPOTHETICAL"
PSEUDO = "PSEUDO"
TERMINATE = "TERMINATE"


@Language.component("qualcode_paragraphs")
def paragraph_breaks(doc: Doc) -> Doc:
    """Start a sentence after a blank line, so a paragraph never runs into the next one."""
    if len(doc) < 2:
        return doc
    strings = doc.vocab.strings
    rows = doc.to_array([ORTH, IS_SPACE])
    breaks = [p + 1 for p in numpy.flatnonzero(rows[:-1, 1]).tolist() if strings[int(rows[p, 0])].count("\n") >= 2]
    return mark_sentence_starts(doc, breaks)


def mark_sentence_starts(doc: Doc, positions: Iterable[int]) -> Doc:
    """Make these tokens sentence starts, leaving other tokens as they are, in one array write
    (spaCy's `Token.is_sent_start` setter scans the whole doc on every call)."""
    positions = [p for p in positions if 0 <= p < len(doc)]
    if positions:
        flags = doc.to_array([SENT_START])
        flags[positions] = 1
        doc.from_array([SENT_START], flags)
    return doc


class CaseFoldingLemmatizer(Lemmatizer):
    """spaCy's lookup lemmatizer (spacy-lookups-data tables) that also tries the lowercase form, and
    otherwise gives the lowercase word: a sentence-initial "Tasks" or "Staff" matches LEMMA rules like
    "tasks" and "staff" do. Lemmas serve matching here, so they are lowercase.

    In lookup mode it works on the doc's hash arrays with a cache per word form instead of one Token
    object per token: the same lemmas (tested against `lookup_lemmatize`), several times faster.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lemma_of: dict[int, int] = {}

    def lookup_lemmatize(self, token: Token) -> list[str]:
        return [self._lookup(token.text)]

    def _lookup(self, text: str) -> str:
        table = self.lookups.get_table("lemma_lookup", {})
        lemma = table.get(text)
        if lemma is None:
            lower = text.lower()
            lemma = table.get(lower, lower)
        return lemma

    def __call__(self, doc: Doc) -> Doc:
        if self.mode != "lookup" or not len(doc):
            return super().__call__(doc)
        if not self._validated:
            self._validate_tables(Errors.E1004)
        strings = doc.vocab.strings
        lemma_of = self._lemma_of
        rows = doc.to_array([ORTH, LEMMA]).tolist()
        lemmas = []
        for orth, lemma in rows:
            if lemma and not self.overwrite:
                lemmas.append(lemma)
                continue
            found = lemma_of.get(orth)
            if found is None:
                found = lemma_of[orth] = strings.add(self._lookup(strings[orth]))
            lemmas.append(found)
        doc.from_array([LEMMA], numpy.asarray(lemmas, dtype="uint64"))
        return doc


class ArraySentencizer(Sentencizer):
    """spaCy's sentencizer with the same rule, read from the doc's hash arrays instead of Token objects."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._punct = {get_string_id(c) for c in self.punct_chars}  # ORTH hashes of sentence-final punctuation

    def predict(self, docs: Iterable[Doc]) -> list[list[bool]]:
        guesses = []
        for doc in docs:
            if not len(doc):
                guesses.append([])
                continue
            punct = self._punct
            doc_guesses = [False] * len(doc)
            doc_guesses[0] = True
            start, seen_period = 0, False
            for i, (orth, is_punct) in enumerate(doc.to_array([ORTH, IS_PUNCT]).tolist()):
                in_punct_chars = orth in punct
                if seen_period and not is_punct and not in_punct_chars:
                    doc_guesses[start] = True
                    start, seen_period = i, False
                elif in_punct_chars:
                    seen_period = True
            doc_guesses[start] = True
            guesses.append(doc_guesses)
        return guesses


@Language.factory(
    "qualcode_sentencizer",
    assigns=["token.is_sent_start", "doc.sents"],
    default_config={"punct_chars": None, "overwrite": False},
)
def make_sentencizer(nlp: Language, name: str, punct_chars: list[str] | None, overwrite: bool) -> ArraySentencizer:
    """Factory for spaCy's sentencizer rule on hash arrays (same sentence starts)."""
    return ArraySentencizer(name, punct_chars=punct_chars, overwrite=overwrite)


@Language.factory(
    "qualcode_lemmatizer",
    assigns=["token.lemma"],
    default_config={"model": None, "mode": "lookup", "overwrite": False},
)
def make_lemmatizer(nlp: Language, model: Any, name: str, mode: str, overwrite: bool) -> CaseFoldingLemmatizer:
    """Factory for the case-folding lookup lemmatizer (tables from spacy-lookups-data, loaded at initialize)."""
    return CaseFoldingLemmatizer(nlp.vocab, model, name, mode=mode, overwrite=overwrite)


@dataclass(frozen=True)
class _Trigger:
    start: int
    end: int
    category: str
    direction: str
    scope: int
    text: str


class ConTextComponent:
    """Marks theme spans negated or hypothetical when a trigger's scope reaches them (ConText, Chapman et al.).

    Scope runs from the trigger FORWARD, BACKWARD or both, within the sentence, for at most `max_scope`
    tokens, and stops at a TERMINATE trigger. A trigger inside a longer one gives way to it (the PSEUDO
    "not only" cancels "not"). A trigger inside the theme span itself does not count ("no budget" stays a
    finding).
    """

    def __init__(self, nlp: Language, name: str, *, rules: list[dict[str, Any]], max_scope: int, spans_key: str) -> None:
        self.name = name
        self.rules = rules
        self.max_scope = max_scope
        self.spans_key = spans_key
        self.phrases = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.patterns = Matcher(nlp.vocab, validate=True)
        for index, rule in enumerate(rules):
            key = str(index)
            if rule.get("pattern"):
                self.patterns.add(key, [rule["pattern"]])
            else:
                self.phrases.add(key, [nlp.make_doc(rule["literal"])])
        for attribute in ("negated", "hypothetical"):
            if not Span.has_extension(attribute):
                Span.set_extension(attribute, default=False)
        if not Span.has_extension("context_trigger"):
            Span.set_extension("context_trigger", default="")

    def __call__(self, doc: Doc) -> Doc:
        targets = doc.spans.get(self.spans_key) if self.spans_key in doc.spans else None
        if not targets:
            return doc
        sentence_of, sentence_end = _sentence_starts(doc)
        themed = sorted({sentence_of(span.start) for span in targets})
        by_sentence: dict[int, list[_Trigger]] = {}
        for trigger in self._triggers(doc, [doc[start : sentence_end(start)] for start in themed]):
            by_sentence.setdefault(sentence_of(trigger.start), []).append(trigger)
        for span in targets:
            nearby = by_sentence.get(sentence_of(span.start), [])
            for trigger in nearby:
                if trigger.category in (PSEUDO, TERMINATE) or not self._reaches(trigger, span, nearby):
                    continue
                if trigger.category == NEGATED:
                    span._.negated = True
                else:
                    span._.hypothetical = True
                span._.context_trigger = trigger.text
        return doc

    def _triggers(self, doc: Doc, sentences: list[Span]) -> list[_Trigger]:
        """Trigger matches: phrases over the doc, token patterns only in the given sentences (theirs)."""
        matches = list(self.phrases(doc)) if len(self.phrases) else []
        if len(self.patterns):
            for sentence in sentences:
                matches.extend((key, sentence.start + s, sentence.start + e) for key, s, e in self.patterns(sentence))
        found: list[_Trigger] = []
        for match_id, start, end in matches:
            rule = self.rules[int(doc.vocab.strings[match_id])]
            found.append(
                _Trigger(start, end, rule["category"], rule["direction"], rule.get("max_scope") or self.max_scope,
                         doc[start:end].text)
            )
        # A trigger inside a longer one gives way to it (a PSEUDO "not only" cancels "not"; a negating
        # "wouldn't say" overrides the hypothetical "would" it contains), as in ConText implementations.
        longest = max((t.end - t.start for t in found), default=0)
        starting: dict[int, list[_Trigger]] = {}
        for trigger in found:
            starting.setdefault(trigger.start, []).append(trigger)
        kept = [t for t in found if not any(_covers(other, t) for start in range(t.end - longest, t.start + 1)
                                           for other in starting.get(start, ()))]
        return sorted(kept, key=lambda t: (t.start, t.end))

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


def sentence_starts(doc: Doc) -> list[int]:
    """The first token of every sentence ([0]: the whole doc, when it has no sentences)."""
    return [sentence.start for sentence in doc.sents] if doc.has_annotation("SENT_START") else [0]


def _sentence_starts(doc: Doc):
    """Functions from a token index to its sentence's first token, and from that to the sentence's end."""
    starts = sentence_starts(doc)
    ends = dict(zip(starts, [*starts[1:], len(doc)]))
    return (lambda i: starts[bisect_right(starts, i) - 1]), ends.__getitem__


def _covers(outer: _Trigger, inner: _Trigger) -> bool:
    """Whether `outer` is a longer trigger containing `inner`."""
    return outer.start <= inner.start and inner.end <= outer.end and outer.end - outer.start > inner.end - inner.start


@Language.factory(
    "qualcode_context",
    default_config={"rules": [], "max_scope": 8, "spans_key": "themes"},
)
def make_context(nlp: Language, name: str, rules: list[dict[str, Any]], max_scope: int, spans_key: str) -> ConTextComponent:
    """Factory for the ConText component; rules are the codebook's `context.rules` as plain dicts."""
    return ConTextComponent(nlp, name, rules=rules, max_scope=max_scope, spans_key=spans_key)


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._token_matchers: list[Matcher] = []
        self._required: list[int] = []
        self._index: dict[tuple[int, int], list[tuple[int, int]]] = {}
        self._unanchored: list[int] = []
        self._anchor_keys: dict[int, numpy.ndarray] = {}  # attribute -> hashes of the index's words, for isin

    def add_patterns(self, patterns: list[dict[str, Any]]) -> None:
        super().add_patterns(patterns)
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
                    matches.extend((key, start + s, start + e) for key, s, e in self._token_matchers[position](sentence))
        unique = {
            Span(doc, start, end, label=self._match_label_id_map[key]["label"],
                 span_id=self._match_label_id_map[key]["id"])
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


@Language.factory(
    "qualcode_span_ruler",
    default_config={"spans_key": "themes", "phrase_matcher_attr": None, "validate": False, "overwrite": False},
)
def make_anchored_span_ruler(
    nlp: Language, name: str, spans_key: str, phrase_matcher_attr: str | None, validate: bool, overwrite: bool
) -> AnchoredSpanRuler:
    """Factory for the anchored span ruler (same patterns and config as spaCy's `span_ruler`)."""
    return AnchoredSpanRuler(nlp, name, spans_key=spans_key, phrase_matcher_attr=phrase_matcher_attr,
                             validate=validate, overwrite=overwrite,
                             scorer=partial(overlapping_labeled_spans_score, spans_key=spans_key))
