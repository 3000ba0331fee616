"""Transcripts as read: the text, its metadata and speaker turns with exact offsets; and skipped files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Turn:
    """One speaker's uninterrupted content: `text[start_char:end_char]` of its transcript, stripped."""

    speaker: str
    role: str
    start_char: int
    end_char: int


@dataclass
class Transcript:
    """A decoded transcript with merged metadata and turns; `text` is the whole file as decoded (BOM dropped,
    line endings kept), or for .docx the paragraphs and table rows (cells tab-joined) joined with "\\n"."""

    id: str
    source: str
    path: Path
    format: str
    encoding: str
    text: str
    layout: str = ""  # how speakers are marked, as inferred (pipeline.ingest.layout.LAYOUTS)
    metadata: dict[str, Any] = field(default_factory=dict)
    turns: list[Turn] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Skipped:
    """A file `discover` did not code, with a one-line reason naming the file (and line when known)."""

    source: str
    reason: str
    ignored: bool = False  # True: deliberately not a transcript (metadata.csv, a README, hidden and lock files)
