"""Compile the codebook's rules to spaCy span-ruler patterns."""

from __future__ import annotations

from typing import Any

from pipeline.codebook.model import Codebook, MatchAttr
from pipeline.core.text import plain_quotes

_FOLDED = {"LOWER", "LEMMA", "NORM"}  # attributes whose token values have straight quotes (nlp.components)


def fold_pattern_quotes(pattern: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A token pattern whose LOWER/LEMMA values have straight quotes, as the tokens they are matched against do."""

    def fold(value: Any) -> Any:
        if isinstance(value, str):
            return plain_quotes(value)
        if isinstance(value, dict):
            return {op: [fold(v) for v in vs] if isinstance(vs, list) else fold(vs) for op, vs in value.items()}
        return value

    return [{attr: fold(v) if attr.upper() in _FOLDED else v for attr, v in token.items()} for token in pattern]


def span_ruler_patterns(codebook: Codebook, *, match: MatchAttr) -> list[dict[str, Any]]:
    """Patterns for one spaCy span_ruler: phrases matched on `match`; token patterns go with LEMMA, the
    ruler that runs after the lemmatizer, because they may test LEMMA."""
    patterns: list[dict[str, Any]] = []
    for theme in codebook.themes:
        for rule in theme.rules:
            if rule.pattern is not None:
                if match is MatchAttr.LEMMA:
                    patterns.append({"label": theme.id, "id": rule.id, "pattern": fold_pattern_quotes(rule.pattern)})
            elif rule.match is match:
                patterns.extend({"label": theme.id, "id": rule.id, "pattern": phrase} for phrase in rule.phrases)
    return patterns


def pattern_attributes(codebook: Codebook) -> frozenset[str] | None:
    """The token attributes (spaCy names, upper case) that the codebook's token patterns test, theme rules and
    ConText triggers alike; None when one tests an extension (`_`), whose getter may read any attribute."""
    tokens = [
        token
        for pattern in [rule.pattern for theme in codebook.themes for rule in theme.rules]
        + [rule.pattern for rule in codebook.context.rules]
        if pattern
        for token in pattern
    ]
    names = {key.upper() for token in tokens for key in token if key != "OP"}
    return None if "_" in names else frozenset(names)
