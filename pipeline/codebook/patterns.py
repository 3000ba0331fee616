"""Compile the codebook's rules to spaCy span-ruler patterns."""

from __future__ import annotations

from typing import Any

from pipeline.codebook.model import Codebook, MatchAttr


def span_ruler_patterns(codebook: Codebook, *, match: MatchAttr) -> list[dict[str, Any]]:
    """Patterns for one spaCy span_ruler: phrases matched on `match`; token patterns go with LEMMA, the
    ruler that runs after the lemmatizer, because they may test LEMMA."""
    patterns: list[dict[str, Any]] = []
    for theme in codebook.themes:
        for rule in theme.rules:
            if rule.pattern is not None:
                if match is MatchAttr.LEMMA:
                    patterns.append({"label": theme.id, "id": rule.id, "pattern": rule.pattern})
            elif rule.match is match:
                patterns.extend({"label": theme.id, "id": rule.id, "pattern": phrase} for phrase in rule.phrases)
    return patterns
