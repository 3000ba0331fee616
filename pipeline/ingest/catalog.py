"""A transcripts folder catalogued for a run that never holds the corpus: one pass keeps per transcript only its
CatalogEntry, and a partition's transcripts are read from disk again when needed, checked unchanged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.errors import TranscriptError
from pipeline.ingest.metadata import load_metadata
from pipeline.ingest.read import no_transcripts, read_transcript, scan
from pipeline.ingest.records import CatalogEntry, Skipped, Transcript


@dataclass
class Catalog:
    """A folder's transcripts as entries, its skipped files (as `discover` reports them), and the transcripts
    themselves only if there were at most the number asked to hold (a corpus coded whole)."""

    entries: list[CatalogEntry]
    skipped: list[Skipped]
    transcripts: list[Transcript] | None


def catalog_folder(folder: Path, *, hold: int = 0) -> Catalog:
    """`read_folder` one file at a time, keeping each transcript's entry, and its text only while there are at
    most `hold` transcripts: the folder is read once, and never held whole beyond `hold` transcripts."""
    folder = Path(folder)
    sidecars = load_metadata(folder)  # none for a missing folder, which `scan` then names
    entries: list[CatalogEntry] = []
    skipped: list[Skipped] = []
    held: list[Transcript] | None = []
    for item in scan(folder, metadata=sidecars):
        if isinstance(item, Skipped):
            skipped.append(item)
            continue
        entries.append(entry_of(item, root=folder, sidecar=sidecars.get(item.source)))
        if held is not None:
            held.append(item)
            if len(held) > hold:
                held = None
        del item  # not kept alive while the next file is read
    if not entries:
        raise no_transcripts(folder, skipped)
    return Catalog(entries=entries, skipped=skipped, transcripts=held)


def entry_of(transcript: Transcript, *, root: Path, sidecar: Mapping[str, Any] | None) -> CatalogEntry:
    """What the run keeps of a transcript read from `root` with its metadata.csv row `sidecar`."""
    return CatalogEntry(
        id=transcript.id,
        source=transcript.source,
        path=transcript.path,
        root=root,
        format=transcript.format,
        metadata=transcript.metadata,
        sidecar=sidecar,
        sha256=transcript.sha256,
    )


def read_again(entries: Sequence[CatalogEntry]) -> list[Transcript]:
    """The entries' transcripts read from disk again as the catalog read them. A file changed, gone or unreadable
    since is a TranscriptError naming it: the run's earlier partitions were coded from what it was."""
    return [_read_again(entry) for entry in entries]


def _read_again(entry: CatalogEntry) -> Transcript:
    try:
        transcript = read_transcript(entry.path, root=entry.root, metadata=entry.sidecar)
    except TranscriptError as exc:
        raise TranscriptError(f"changed during the run ({exc.message}): run again", path=entry.path) from None
    if transcript.sha256 != entry.sha256:
        raise TranscriptError(
            "changed during the run (its contents differ from when the run first read it): run again",
            path=entry.path,
        )
    return transcript
