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
    below_precision_bar: bool = False  # its method's measured precision for the theme is under the run's bar
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def counts_as_evidence(self) -> bool:
        """Negated or hypothetical mentions are kept but are not evidence; nor are interviewer turns, nor tags
        whose method measured below the run's precision bar for the theme."""
        return not self.evidence_reason

    @property
    def evidence_reason(self) -> str:
        """Why the tag is not evidence ("" when it is): interviewer, negated, hypothetical or below_precision_bar."""
        if self.segment.role == "interviewer":
            return "interviewer"
        if self.negated:
            return "negated"
        if self.hypothetical:
            return "hypothetical"
        return "below_precision_bar" if self.below_precision_bar else ""
