"""Read interview transcripts (txt, md, docx, vtt, srt) into their text and speaker turns with exact offsets.

Every turn is a character span of `Transcript.text`, so later stages can quote and locate it exactly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pipeline.core.errors import TranscriptError
from pipeline.ingest.decode import BINARY_REASON, BINARY_SIGNATURES, decode_bytes, docx_text
from pipeline.ingest.layout import infer_layout, stacked_labels
from pipeline.ingest.metadata import coerce, front_matter, load_metadata
from pipeline.ingest.records import Skipped, Transcript, Turn
from pipeline.ingest.speakers import (
    accepted_labels,
    assign_roles,
    explicit_roles,
    group_turns,
    norm,
    role_declarations,
    scan_captions,
    scan_text,
)

TRANSCRIPT_SUFFIXES = (".txt", ".md", ".docx", ".vtt", ".srt")
_UNSUPPORTED_DOCUMENTS = (".doc", ".rtf", ".odt", ".pdf", ".pages", ".htm", ".html")  # reported, not ignored

NO_LABELS_WARNING = "no speaker labels found: coded as one respondent"


# --- public API -----------------------------------------------------------------------------


def read_transcript(path: Path, *, root: Path | None = None, metadata: Mapping[str, Any] | None = None) -> Transcript:
    """Read one transcript file into text, metadata (sidecar row overridden by front matter) and turns.

    Raises TranscriptError for empty, binary, undecodable or malformed files.
    """
    path = Path(path)
    where = str(path)
    fmt = path.suffix.lower().lstrip(".")
    if f".{fmt}" not in TRANSCRIPT_SUFFIXES:
        raise TranscriptError(f"not a transcript file type (supported: {', '.join(TRANSCRIPT_SUFFIXES)})", path=where)
    try:
        source = path.relative_to(root).as_posix() if root is not None else path.name
    except ValueError:
        source = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TranscriptError(f"cannot read file: {exc.strerror or exc}", path=where) from None
    sha256 = hashlib.sha256(data).hexdigest()
    if fmt == "docx":
        if not data or data.isspace():
            raise TranscriptError("empty file", path=where)
        if data.startswith(BINARY_SIGNATURES) and not data.startswith(b"PK"):
            raise TranscriptError(BINARY_REASON, path=where)
        text, encoding, warnings = docx_text(data, where), "utf-8", []
    else:
        text, encoding, warnings = decode_bytes(data, where)
    del data  # a long transcript's bytes need not live beside its text
    meta = coerce(metadata or {}, where=where)
    body = 0
    if fmt in ("txt", "md"):
        front, body = front_matter(text, where)
        meta.update(coerce(front, where=where))
    explicit = explicit_roles(meta, where)
    caption = fmt in ("vtt", "srt")
    events = scan_captions(text, fmt, where) if caption else scan_text(text, body, stacked=stacked_labels(text, body))
    accepted = accepted_labels(events, explicit)
    events, declared = role_declarations(text, events, accepted)
    explicit = {**declared, **explicit}
    layout = infer_layout(text, events, accepted, explicit, caption=caption)
    explicit = {**layout.roles, **explicit}
    spans, preamble_words = group_turns(
        text, events, accepted, line_paragraphs=fmt == "docx", unlabelled=layout.unlabelled
    )
    if not spans:
        raise TranscriptError("empty file: no spoken content found", path=where)
    if not accepted:
        warnings.append(NO_LABELS_WARNING)
    elif preamble_words > 40:
        warnings.append(f"{preamble_words} words before the first speaker label were not coded")
    warnings.extend(layout.warnings)
    display, roles, role_warnings = assign_roles(spans, text, explicit)
    warnings.extend(role_warnings)
    missing = [str(label) for label in (meta.get("speakers") or {}) if norm(str(label)) not in display]
    if missing:
        warnings.append(f"metadata speakers with no turns in this transcript: {', '.join(missing)}")
    turns = [
        Turn(speaker=display[norm(label)], role=roles[norm(label)], start_char=start, end_char=end)
        for label, start, end in spans
    ]
    return Transcript(
        id=str(meta.get("id") or path.stem),
        source=source,
        path=path,
        format=fmt,
        encoding=encoding,
        layout=layout.name,
        text=text,
        metadata=meta,
        turns=turns,
        warnings=warnings,
        sha256=sha256,
    )


def discover(folder: Path) -> tuple[list[Transcript], list[Skipped]]:
    """Read every transcript under `folder` (recursive, sorted). Every other file is a Skipped with its reason:
    unreadable files, other formats and later duplicate ids are problems; metadata.csv, a top-level README.md,
    hidden files and Office lock files are `ignored` (not transcripts, listed so nothing goes unmentioned)."""
    transcripts: list[Transcript] = []
    skipped: list[Skipped] = []
    for item in scan(folder):
        (transcripts if isinstance(item, Transcript) else skipped).append(item)
    return transcripts, skipped


def scan(folder: Path, *, metadata: Mapping[str, Mapping[str, Any]] | None = None) -> Iterator[Transcript | Skipped]:
    """`discover` one file at a time, so a caller that keeps only what it needs holds one transcript at once.
    `metadata` is the folder's metadata.csv rows by source, when the caller has loaded them (to read again)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TranscriptError("transcripts folder not found", path=folder)
    if metadata is None:
        metadata = load_metadata(folder)
    seen: dict[str, str] = {}
    for path in sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.relative_to(folder).as_posix()):
        relative = path.relative_to(folder)
        source = relative.as_posix()
        not_a_transcript = _not_a_transcript(relative)
        if not_a_transcript:
            yield Skipped(source, not_a_transcript, ignored=True)
            continue
        suffix = path.suffix.lower()
        if suffix in _UNSUPPORTED_DOCUMENTS:
            yield Skipped(source, f"{path}: unsupported format {path.suffix}: save it as .docx or .txt")
            continue
        if suffix not in TRANSCRIPT_SUFFIXES:
            kind = f"{path.suffix} files" if path.suffix else "files without an extension"
            readable = ", ".join(TRANSCRIPT_SUFFIXES)
            yield Skipped(source, f"{path}: not a transcript ({kind} are not read; transcripts are {readable})")
            continue
        try:
            transcript = read_transcript(path, root=folder, metadata=metadata.get(source))
        except TranscriptError as exc:
            yield Skipped(source, str(exc))
            continue
        if transcript.id in seen:
            yield Skipped(source, f"{path}: duplicate id {transcript.id!r} (already used by {seen[transcript.id]})")
            continue
        seen[transcript.id] = source
        yield transcript


def read_folder(folder: Path, *, allow_empty: bool = False) -> tuple[list[Transcript], list[Skipped]]:
    """`discover` for a command: a missing folder is an error, and so (unless `allow_empty`) is a folder with
    no readable transcript, naming each skipped file's reason."""
    folder = Path(folder)
    transcripts, skipped = discover(folder)
    if not transcripts and not allow_empty:
        raise no_transcripts(folder, skipped)
    return transcripts, skipped


def no_transcripts(folder: Path, skipped: list[Skipped]) -> TranscriptError:
    """The error for a folder with no readable transcript, naming each skipped file's reason."""
    reasons = (
        "; ".join(f"{s.source}: {s.reason}" for s in problems(skipped)) or "no .txt, .md, .docx, .vtt or .srt files"
    )
    return TranscriptError(f"no readable transcripts ({reasons})", path=folder)


def problems(skipped: list[Skipped]) -> list[Skipped]:
    """The skipped files a user should hear about (not metadata.csv, READMEs, hidden or lock files)."""
    return [s for s in skipped if not s.ignored]


def _not_a_transcript(relative: Path) -> str:
    """Why a file is deliberately not read as a transcript ('' when it may be one)."""
    name = relative.name.lower()
    if any(part.startswith("~$") for part in relative.parts):
        return "an Office lock file (~$), not a transcript"
    if any(part.startswith(".") for part in relative.parts):
        return "a hidden file, not a transcript"
    if len(relative.parts) == 1 and name == "metadata.csv":
        return "not a transcript: the transcripts' metadata"
    if name == "metadata.csv":
        return "not a transcript; only the top-level metadata.csv is read, so this one is not applied"
    if name == "readme.md":
        return "not a transcript: a README" + ("" if len(relative.parts) == 1 else " (rename it to code it)")
    return ""
