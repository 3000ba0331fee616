"""qualcode's spaCy components, registered in one place: paragraph breaks and ConText negation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc, Span

NEGATED = "NEGATED_EXISTENCE"
HYPOTHETICAL = "HYPOTHETICAL"
PSEUDO = "PSEUDO"
TERMINATE = "TERMINATE"


@Language.component("qualcode_paragraphs")
def paragraph_breaks(doc: Doc) -> Doc:
    """Start a sentence after a blank line, so a paragraph never runs into the next one."""
    for token in doc[:-1]:
        if token.is_space and token.text.count("\n") >= 2:
            doc[token.i + 1].is_sent_start = True
    return doc


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
    tokens, and stops at a TERMINATE trigger. PSEUDO triggers (e.g. "not only") cancel the triggers they
    contain. A trigger inside the theme span itself does not count ("no budget" stays a finding).
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
        triggers = self._triggers(doc)
        if not triggers:
            return doc
        for span in targets:
            for trigger in triggers:
                if trigger.category in (PSEUDO, TERMINATE) or not self._reaches(trigger, span, triggers):
                    continue
                if trigger.category == NEGATED:
                    span._.negated = True
                else:
                    span._.hypothetical = True
                span._.context_trigger = trigger.text
        return doc

    def _triggers(self, doc: Doc) -> list[_Trigger]:
        found: list[_Trigger] = []
        matchers = [m for m in (self.phrases, self.patterns) if len(m)]
        for match_id, start, end in [match for matcher in matchers for match in matcher(doc)]:
            rule = self.rules[int(doc.vocab.strings[match_id])]
            found.append(
                _Trigger(start, end, rule["category"], rule["direction"], rule.get("max_scope") or self.max_scope,
                         doc[start:end].text)
            )
        pseudo = [t for t in found if t.category == PSEUDO]
        return sorted(
            (t for t in found if t.category == PSEUDO or not any(_covers(p, t) for p in pseudo)),
            key=lambda t: (t.start, t.end),
        )

    def _reaches(self, trigger: _Trigger, span: Span, triggers: Iterable[_Trigger]) -> bool:
        if trigger.start < span.end and span.start < trigger.end:
            return False
        sentence = span.sent if span.doc.has_annotation("SENT_START") else span.doc[:]
        if not (sentence.start <= trigger.start and trigger.end <= sentence.end):
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
        return not any(t.category == TERMINATE and gap[0] <= t.start and t.end <= gap[1] for t in triggers)


def _covers(outer: _Trigger, inner: _Trigger) -> bool:
    return outer.start <= inner.start and inner.end <= outer.end and outer is not inner


@Language.factory(
    "qualcode_context",
    default_config={"rules": [], "max_scope": 8, "spans_key": "themes"},
)
def make_context(nlp: Language, name: str, rules: list[dict[str, Any]], max_scope: int, spans_key: str) -> ConTextComponent:
    """Factory for the ConText component; rules are the codebook's `context.rules` as plain dicts."""
    return ConTextComponent(nlp, name, rules=rules, max_scope=max_scope, spans_key=spans_key)
