"""Rule tagging: the codebook compiled to spaCy span rulers plus ConText, read back as theme tags."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable

from spacy.language import Language
from spacy.tokens import Doc, Span

from pipeline.codebook.model import Codebook, MatchAttr
from pipeline.codebook.patterns import fold_pattern_quotes, span_ruler_patterns
from pipeline.coding.records import Tag
from pipeline.coding.segment import ParsedTranscript, SegmentSpan
from pipeline.nlp import factories  # noqa: F401  (registers qualcode's components)

SPANS_KEY = "themes"
RULE_METHOD = "rule"


def add_rules(nlp: Language, codebook: Codebook) -> Language:
    """Add one span ruler per match attribute and the ConText component; results go to doc.spans['themes'].

    The rulers are spaCy span rulers that look up a required word before trying a token pattern
    (`factories.AnchoredSpanRuler`): same patterns, same spans, several times faster.

    The LOWER ruler goes first, so its phrases are only tokenised; the LEMMA ruler goes last, after the
    lemmatizer (or a trained pipeline's tagger), so its phrases are lemmatised like the text.
    """
    for attr in MatchAttr:
        patterns = span_ruler_patterns(codebook, match=attr)
        if not patterns:
            continue
        position = {"first": True} if attr is MatchAttr.LOWER else {"last": True}
        ruler = nlp.add_pipe(
            "qualcode_span_ruler",
            name=f"theme_ruler_{attr.value.lower()}",
            **position,
            config={"spans_key": SPANS_KEY, "phrase_matcher_attr": attr.value, "validate": True, "overwrite": False},
        )
        ruler.add_patterns(patterns)
    rules = codebook.context.rules
    nlp.add_pipe(
        "qualcode_context",
        config={
            "rules": [_context_rule(rule.model_dump(mode="json", exclude_none=True)) for rule in rules],
            "max_scope": codebook.context.max_scope,
            "spans_key": SPANS_KEY,
        },
    )
    return nlp


def _context_rule(rule: dict) -> dict:
    """A ConText rule as its component's config, a token pattern's quotes straightened like the tokens'."""
    return {**rule, "pattern": fold_pattern_quotes(rule["pattern"])} if rule.get("pattern") else rule


def rule_tags(parsed: ParsedTranscript, codebook: Codebook, *, code_interviewer: bool = False) -> list[Tag]:
    """One tag per segment x theme from the span rulers' matches; asserted matches win over negated ones."""
    if SPANS_KEY not in parsed.doc.spans:
        return []
    flags = _flag_reader(parsed.doc)
    starts = [piece.token_start for piece in parsed.segments]
    by_segment: dict[tuple[int, str], list[Span]] = {}
    for span in parsed.doc.spans[SPANS_KEY]:
        index = bisect_right(starts, span.start) - 1
        if index < 0 or span.end > parsed.segments[index].token_end:
            continue
        if parsed.segments[index].segment.role == "interviewer" and not code_interviewer:
            continue
        by_segment.setdefault((index, span.label_), []).append(span)
    return [
        _tag(parsed.segments[index], theme, spans, codebook, flags)
        for (index, theme), spans in sorted(by_segment.items())
    ]


def _tag(piece: SegmentSpan, theme: str, spans: list[Span], codebook: Codebook, read_flags: FlagReader) -> Tag:
    flags = [read_flags(s) for s in spans]
    asserted = [s for s, (negated, hypothetical, _) in zip(spans, flags) if not (negated or hypothetical)]
    chosen = sorted(asserted or spans, key=lambda s: (s.start, s.end))
    first = chosen[0]
    return Tag(
        segment=piece.segment,
        theme=theme,
        method=RULE_METHOD,
        codebook_version=codebook.version,
        codebook_hash=codebook.hash,
        rule_id=";".join(dict.fromkeys(s.id_ for s in chosen)),
        matched=" | ".join(dict.fromkeys(_text(s, piece) for s in chosen)),
        match_start=piece.file_offset(first.start_char),
        match_end=piece.file_offset(first.end_char),
        negated=not asserted and any(negated for negated, _, _ in flags),
        hypothetical=not asserted and any(hypothetical for _, hypothetical, _ in flags),
        trigger="" if asserted else "; ".join(dict.fromkeys(trigger for _, _, trigger in flags if trigger)),
    )


def _context_flags(span: Span) -> tuple[bool, bool, str]:
    """ConText's (negated, hypothetical, trigger) of a span, read through one `span._` (each access builds an
    Underscore)."""
    extensions = span._
    return extensions.negated, extensions.hypothetical, extensions.context_trigger


FlagReader = Callable[[Span], tuple[bool, bool, str]]
_FLAGS = ("negated", "hypothetical", "context_trigger")


def _flag_reader(doc: Doc) -> FlagReader:
    """`_context_flags` for this doc's spans, read straight from `doc.user_data`, where spaCy keeps a span's
    extension values under ("._.", name, start_char, end_char), without an Underscore per span; through `span._`
    when an extension is computed (a getter or method) or has a mutable default."""
    specs = [Span.get_extension(name) for name in _FLAGS]
    if any(spec is None or spec[1] or spec[2] or isinstance(spec[0], (dict, list, set)) for spec in specs):
        return _context_flags
    data = doc.user_data
    negated, hypothetical, trigger = (spec[0] for spec in specs)

    def read(span: Span) -> tuple[bool, bool, str]:
        start, end = span.start_char, span.end_char
        return (
            data.get(("._.", "negated", start, end), negated),
            data.get(("._.", "hypothetical", start, end), hypothetical),
            data.get(("._.", "context_trigger", start, end), trigger),
        )

    return read


def _text(span: Span, piece: SegmentSpan) -> str:
    """`span.text`, sliced from the segment's text when the span lies inside it (the same characters of the doc,
    without building the text token by token)."""
    start, end = span.start_char - piece.doc_char, span.end_char - piece.doc_char
    text = piece.segment.text
    return text[start:end] if 0 <= start and end <= len(text) else span.text
