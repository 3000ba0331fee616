"""Transcripts as read: the text, its metadata and speaker turns with exact offsets; what a run keeps of one
between reads; and skipped files."""

from __future__ import annotations

from collections.abc import Mapping
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
    sha256: str = ""  # of the file's bytes as read: tells a later read whether the file changed since


@dataclass(frozen=True)
class CatalogEntry:
    """What a run keeps of a transcript between reads (`pipeline.ingest.catalog`): who it is, its metadata, and
    how to read it again the same way and tell whether it changed; not its text or turns."""

    id: str
    source: str
    path: Path
    root: Path  # the transcripts folder it was read from (`source` is relative to it)
    format: str
    metadata: dict[str, Any]  # as Transcript.metadata: the metadata.csv row overridden by front matter
    sidecar: Mapping[str, Any] | None  # the metadata.csv row it was read with
    sha256: str


@dataclass(frozen=True)
class Skipped:
    """A file `discover` did not code, with a one-line reason naming the file (and line when known)."""

    source: str
    reason: str
    ignored: bool = False  # True: deliberately not a transcript (metadata.csv, a README, hidden and lock files)
