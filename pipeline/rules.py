"""Rule tagging: the codebook compiled to spaCy span rulers plus ConText, read back as theme tags."""

from __future__ import annotations

from spacy.language import Language
from spacy.tokens import Span

from . import factories  # noqa: F401  (registers qualcode_context)
from .codebook import Codebook, MatchAttr, span_ruler_patterns
from .records import Segment, Tag
from .segment import SegmentedTurn

SPANS_KEY = "themes"
RULE_METHOD = "rule"


def add_rules(nlp: Language, codebook: Codebook) -> Language:
    """Add one span ruler per match attribute and the ConText component; results go to doc.spans['themes'].

    The LOWER ruler goes first, so its phrases are only tokenised; the LEMMA ruler goes last, after the
    lemmatizer (or a trained pipeline's tagger), so its phrases are lemmatised like the text.
    """
    for attr in MatchAttr:
        patterns = span_ruler_patterns(codebook, match=attr)
        if not patterns:
            continue
        position = {"first": True} if attr is MatchAttr.LOWER else {"last": True}
        ruler = nlp.add_pipe(
            "span_ruler",
            name=f"theme_ruler_{attr.value.lower()}",
            **position,
            config={"spans_key": SPANS_KEY, "phrase_matcher_attr": attr.value, "validate": True, "overwrite": False},
        )
        ruler.add_patterns(patterns)
    nlp.add_pipe(
        "qualcode_context",
        config={
            "rules": [rule.model_dump(mode="json", exclude_none=True) for rule in codebook.context.rules],
            "max_scope": codebook.context.max_scope,
            "spans_key": SPANS_KEY,
        },
    )
    return nlp


def rule_tags(
    turns: list[SegmentedTurn], codebook: Codebook, *, code_interviewer: bool = False
) -> list[Tag]:
    """One tag per segment x theme from the span rulers' matches; asserted matches win over negated ones."""
    tags: list[Tag] = []
    for turn in turns:
        if not turn.segments or SPANS_KEY not in turn.doc.spans:
            continue
        if turn.segments[0][0].role == "interviewer" and not code_interviewer:
            continue
        by_segment: dict[tuple[int, str], list[Span]] = {}
        for span in turn.doc.spans[SPANS_KEY]:
            index = _segment_index(turn, span)
            if index is not None:
                by_segment.setdefault((index, span.label_), []).append(span)
        for (index, theme), spans in sorted(by_segment.items()):
            segment = turn.segments[index][0]
            tags.append(_tag(segment, theme, spans, turn.offset, codebook))
    return tags


def _segment_index(turn: SegmentedTurn, span: Span) -> int | None:
    for index, (_, sentence) in enumerate(turn.segments):
        if sentence.start <= span.start < sentence.end:
            return index
    return None


def _tag(segment: Segment, theme: str, spans: list[Span], offset: int, codebook: Codebook) -> Tag:
    asserted = [s for s in spans if not (s._.negated or s._.hypothetical)]
    chosen = sorted(asserted or spans, key=lambda s: (s.start, s.end))
    first = chosen[0]
    return Tag(
        segment=segment,
        theme=theme,
        method=RULE_METHOD,
        codebook_version=codebook.version,
        codebook_hash=codebook.hash,
        rule_id=";".join(dict.fromkeys(s.id_ for s in chosen)),
        matched=" | ".join(dict.fromkeys(s.text for s in chosen)),
        match_start=offset + first.start_char,
        match_end=offset + first.end_char,
        negated=not asserted and any(s._.negated for s in spans),
        hypothetical=not asserted and any(s._.hypothetical for s in spans),
        trigger="" if asserted else "; ".join(dict.fromkeys(s._.context_trigger for s in spans if s._.context_trigger)),
    )
