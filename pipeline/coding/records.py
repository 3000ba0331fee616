"""The records passed between stages: a segment of a transcript, and a theme tag on a segment."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Segment:
    """A sentence (or whole turn) of one speaker, located by character offsets into the original file."""

    segment_id: str
    transcript_id: str
    source: str
    speaker: str
    role: str
    turn_index: int
    start_char: int
    end_char: int
    text: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Tag:
    """One theme on one segment, with how it was found (rule id and matched words, or model score)."""

    segment: Segment
    theme: str
    method: str
    codebook_version: str
    codebook_hash: str
    rule_id: str = ""
    matched: str = ""
    match_start: int | None = None
    match_end: int | None = None
    score: float | None = None
    model: str = ""
    negated: bool = False
    hypothetical: bool = False
    trigger: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def counts_as_evidence(self) -> bool:
        """Negated or hypothetical mentions are kept but are not evidence; nor are interviewer turns."""
        return not (self.negated or self.hypothetical) and self.segment.role != "interviewer"
