"""Import a REFI-QDA project (.qdpx) coded in NVivo, ATLAS.ti, MAXQDA, QualCoder or qualcode.

It becomes qualcode's own inputs: `transcripts/` (each text source as stored, BOM dropped, plus a
metadata.csv of its case variables), `coded/<user>.csv` (each user's codings in the gold-standard coder
format, offsets converted to code points of the written text), `codebook.yaml` (the project's codes, rules
empty) and, for projects qualcode exported, `provenance.csv` (how each tag was found). The archive is
untrusted: see `refi_xml.SafeArchive`. Everything not imported is listed, never silently dropped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from pipeline.codebook.load import load_codebook
from pipeline.codebook.model import Codebook
from pipeline.coding.table import END_CHAR, START_CHAR, TEXT, THEME, TRANSCRIPT_ID, write_csv
from pipeline.core.errors import ExchangeError, QualcodeError
from pipeline.core.files import atomic_write_bytes, atomic_write_text
from pipeline.ingest.decode import decode_text
from pipeline.ingest.read import NO_LABELS_WARNING, discover, problems
from pipeline.refi.codebook import (
    ImportedCodebook,
    codebook_from_refi,
    codebook_yaml,
    parse_description,
    read_codes,
    read_sets,
    snake_id,
    unique_id,
)
from pipeline.refi.offsets import OffsetMap, RawSelection, detect_convention
from pipeline.refi.writer import CODER, PROVENANCE_HEADER
from pipeline.refi.xml import (
    MAX_ARCHIVE_BYTES,
    PROJECT_NS_PREFIX,
    SafeArchive,
    child_text,
    children,
    guid_key,
    parse_xml,
    split_tag,
)

CODER_COLUMNS = [TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME, TEXT, "note"]
TEXT_SUFFIXES = (".txt", ".md")
RICH_SUFFIXES = (".docx", ".doc", ".rtf", ".odt", ".pdf", ".html", ".htm")
_SRT = re.compile(r"\A\s*\d+\s*\r?\n\s*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}\s+-->")
_UNSAFE_FILE = re.compile(r"[^\w.\- ]+")


@dataclass(frozen=True)
class ImportedSource:
    """One text source written as a transcript."""

    id: str
    file: str
    characters: int
    codings: int
    offsets: str


@dataclass
class ProjectImport:
    """What `import_qdpx` wrote and found: the summary the command prints."""

    out: Path
    name: str
    origin: str
    sources: list[ImportedSource] = field(default_factory=list)
    coders: dict[str, int] = field(default_factory=dict)
    unknown_codes: dict[str, tuple[str, int]] = field(default_factory=dict)
    codebook_path: Path | None = None
    provenance_rows: int = 0
    written: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    not_imported: list[str] = field(default_factory=list)


@dataclass
class _Selection:
    start: int
    end: int
    name: str
    memo: str
    codings: list[tuple[str, str]]
    notes: list[str]


@dataclass
class _Source:
    guid: str
    name: str
    text: str
    selections: list[_Selection]
    variables: dict[str, str]


def safe_file_stem(name: str, *, fallback: str) -> str:
    """A file-name stem with no path separators or odd characters."""
    return _UNSAFE_FILE.sub("_", name).strip(" ._")[:100] or fallback


def _unique(name: str, taken: set[str]) -> str:
    """`name`, or `stem_2.ext`, `stem_3.ext`..., unique case-insensitively among `taken` (which it joins)."""
    stem, dot, suffix = name.rpartition(".") if "." in name else (name, "", "")
    candidate, number = name, 1
    while candidate.lower() in taken:
        number += 1
        candidate = f"{stem}_{number}{dot}{suffix}"
    taken.add(candidate.lower())
    return candidate


def transcript_file_name(source_name: str, text: str, taken: set[str]) -> str:
    """The file a source is written to: its own name where ingest reads that format, else `.txt`."""
    base = PurePosixPath(source_name.replace("\\", "/")).name
    stem, suffix = (
        (base[: -len(PurePosixPath(base).suffix)], PurePosixPath(base).suffix.lower())
        if PurePosixPath(base).suffix
        else (base, "")
    )
    keep = (
        suffix in TEXT_SUFFIXES
        or (suffix == ".vtt" and text.startswith("WEBVTT"))
        or (suffix == ".srt" and _SRT.match(text))
    )
    if not keep:
        suffix, stem = ".txt", stem if suffix in RICH_SUFFIXES else base
    stem = safe_file_stem(stem, fallback="source")
    if f"{stem}{suffix}".lower() == "readme.md":  # ingest skips README.md
        stem = "readme_source"
    return _unique(f"{stem}{suffix}", taken)


def column_name(name: str, taken: set[str]) -> str:
    """A metadata.csv column for a variable: its name if already an identifier, else a snake_case form."""
    column = name if re.fullmatch(r"[a-z][a-z0-9_]*", name) else snake_id(name, prefix="var")
    if column in ("file", "id"):
        column = f"var_{column}"
    return unique_id(column, taken)


def _variable_values(element: ET.Element, ns: str) -> dict[str, str]:
    """{variable GUID: value as text} of an element's VariableValue children."""
    values = {}
    for holder in children(element, ns, "VariableValue"):
        ref = holder.find(f"{{{ns}}}VariableRef")
        value = next((v.text or "" for v in holder if split_tag(v.tag)[1] != "VariableRef"), "")
        if ref is not None and value.strip():
            values[guid_key(ref.get("targetGUID"))] = value.strip()
    return values


class _ProjectReader:
    """Reads one project.qde and its sources from an open archive, noting everything it leaves out."""

    def __init__(self, archive: SafeArchive, root: ET.Element, ns: str) -> None:
        self.archive, self.root, self.ns = archive, root, ns
        self.not_imported: list[str] = []

    def find(self, name: str) -> ET.Element | None:
        return self.root.find(f"{{{self.ns}}}{name}")

    def users(self) -> dict[str, str]:
        users_element = self.find("Users")
        users = {}
        for user in children(users_element, self.ns, "User") if users_element is not None else []:
            key = guid_key(user.get("guid"))
            users[key] = (user.get("name") or user.get("id") or "").strip() or f"user-{key[:8]}"
        return users

    def variables(self) -> dict[str, str]:
        element = self.find("Variables")
        return {
            guid_key(v.get("guid")): (v.get("name") or "").strip() or "variable"
            for v in (children(element, self.ns, "Variable") if element is not None else [])
        }

    def cases(self) -> list[tuple[str, dict[str, str], list[str]]]:
        """(name, variable values, source GUIDs) of every Case."""
        element = self.find("Cases")
        return [
            (
                (case.get("name") or "").strip(),
                _variable_values(case, self.ns),
                [guid_key(ref.get("targetGUID")) for ref in children(case, self.ns, "SourceRef")],
            )
            for case in (children(element, self.ns, "Case") if element is not None else [])
        ]

    def internal_text(self, path_value: str, *, what: str) -> str | None:
        """Text of an `internal://` file, or None (noted) when it is external, missing or not UTF-8."""
        if not path_value.startswith("internal://"):
            self.not_imported.append(f"{what}: external file {path_value!r} (only internal sources are read)")
            return None
        member = self.archive.find_source(path_value[len("internal://") :])
        if member is None:
            self.not_imported.append(f"{what}: {path_value!r} is not in the archive")
            return None
        try:
            return decode_text(self.archive.read(member))  # UTF-8 is the standard; NVivo writes a BOM
        except UnicodeDecodeError:
            self.not_imported.append(f"{what}: {member} is not UTF-8 text")
            return None

    def notes(self) -> dict[str, str]:
        """{note GUID: text} (PlainTextContent, or an internal plain-text file)."""
        element = self.find("Notes")
        found = {}
        for note in children(element, self.ns, "Note") if element is not None else []:
            content = note.find(f"{{{self.ns}}}PlainTextContent")
            if content is not None:
                found[guid_key(note.get("guid"))] = content.text or ""
            elif note.get("plainTextPath"):
                text = self.internal_text(note.get("plainTextPath", ""), what=f"note {note.get('name')!r}")
                if text is not None:
                    found[guid_key(note.get("guid"))] = text
        return found

    def sources(self) -> list[_Source]:
        element = self.find("Sources")
        found = []
        for source in list(element) if element is not None else []:
            kind, name = split_tag(source.tag)[1], (source.get("name") or "").strip()
            if kind != "TextSource":
                self.not_imported.append(f"{kind} {name!r}: only text sources are imported")
                continue
            what = f"text source {name!r}"
            if source.get("plainTextPath"):
                text = self.internal_text(source.get("plainTextPath", ""), what=what)
            elif source.find(f"{{{self.ns}}}PlainTextContent") is not None:
                text = child_text(source, self.ns, "PlainTextContent")
            else:
                self.not_imported.append(f"{what}: no plain-text representation (richTextPath only)")
                text = None
            if text is None:
                continue
            whole = len(list(children(source, self.ns, "Coding")))
            if whole:
                self.not_imported.append(f"{what}: {whole} coding(s) of the whole source (not of a text selection)")
            selections = []
            for selection in children(source, self.ns, "PlainTextSelection"):
                try:
                    start, end = int(selection.get("startPosition", "")), int(selection.get("endPosition", ""))
                except ValueError:
                    self.not_imported.append(f"{what}: a selection without whole-number positions")
                    continue
                codings = [
                    (
                        guid_key(ref.get("targetGUID")),
                        guid_key(
                            coding.get("creatingUser") or selection.get("creatingUser") or source.get("creatingUser")
                        ),
                    )
                    for coding in children(selection, self.ns, "Coding")
                    for ref in children(coding, self.ns, "CodeRef")
                ]
                selections.append(
                    _Selection(
                        start=start,
                        end=end,
                        name=selection.get("name") or "",
                        memo=child_text(selection, self.ns, "Description").strip(),
                        codings=codings,
                        notes=[guid_key(ref.get("targetGUID")) for ref in children(selection, self.ns, "NoteRef")],
                    )
                )
            found.append(
                _Source(
                    guid=guid_key(source.get("guid")),
                    name=name or "source",
                    text=text,
                    selections=selections,
                    variables=_variable_values(source, self.ns),
                )
            )
        for ignored in ("Links", "Graphs"):
            element = self.find(ignored)
            if element is not None and len(element):
                self.not_imported.append(f"{len(element)} {ignored.lower()} (qualcode has no use for them)")
        return found


def _target_ids(imported: ImportedCodebook, target: Codebook | None) -> dict[str, str]:
    """Theme id for every code GUID: the target codebook's theme matched by qualcode id, derived id or label;
    otherwise the id the imported codebook gave it."""
    if target is None:
        return dict(imported.code_ids)
    ids = set(target.theme_ids)
    by_label = {theme.label.casefold(): theme.id for theme in target.themes}
    mapped = {}
    for code in imported.codes:
        explicit = parse_description(code.description)[1].get("id")
        derived = snake_id(code.name)
        mapped[code.guid] = (
            explicit
            if explicit in ids
            else derived
            if derived in ids
            else by_label.get(code.name.casefold()) or imported.code_ids[code.guid]
        )
    return mapped


def _provenance(note: str, *, where: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The records of a qualcode provenance note (none for other notes), and why any line was not imported.

    A record is a JSON object with text `theme` and `coder` and scalar values only (a nested value would not
    fit provenance.csv); other lines are listed, never silently dropped, and never stop the import."""
    lines = note.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != PROVENANCE_HEADER:
        return [], []
    records, problems = [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            problems.append(f"{where} line {number}: not a JSON record")
            continue
        reason = _provenance_problem(record)
        if reason:
            problems.append(f"{where} line {number}: {reason}")
            continue
        records.append(record)
    return records, problems


def _provenance_problem(record: Any) -> str:
    if not isinstance(record, dict):
        return "not a JSON object"
    for name in (THEME, CODER):
        if not isinstance(record.get(name), str) or not record[name].strip():
            return f"no {name!r}"
    nested = [key for key, value in record.items() if not isinstance(value, (str, int, float, bool, type(None)))]
    if nested:
        return f"{nested[0]!r} is not a single value"
    reserved = {TRANSCRIPT_ID, START_CHAR, END_CHAR} & set(record)
    if reserved:
        return f"{sorted(reserved)[0]!r} is set by the selection, not the note"
    return ""


def _check_out(out: Path, *, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ExchangeError("exists and is not a folder", path=out)
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ExchangeError(
            "already exists and is not empty; choose another --out or pass --force to write into it", path=out
        )


def import_qdpx(
    path: Path,
    *,
    out: Path | None = None,
    codebook_path: Path | None = None,
    force: bool = False,
    max_bytes: int = MAX_ARCHIVE_BYTES,
) -> ProjectImport:
    """Import a .qdpx into `out` (default imported/<project name>/): transcripts, coder files, codebook.yaml."""
    path = Path(path)
    target = load_codebook(codebook_path) if codebook_path else None
    with SafeArchive(path, max_bytes=max_bytes) as archive:
        member = archive.project_member()
        where = f"{path}:{member}"
        root = parse_xml(archive.read(member), where=where)
        ns, local = split_tag(root.tag)
        if local != "Project" or not ns.startswith(PROJECT_NS_PREFIX):
            raise ExchangeError(
                f"not a REFI-QDA project: the root element is <{local}> in namespace {ns!r}, not "
                "<Project> (urn:QDA-XML:project:1.0)",
                path=where,
            )
        reader = _ProjectReader(archive, root, ns)
        users, variables, cases = reader.users(), reader.variables(), reader.cases()
        sources, notes = reader.sources(), reader.notes()
    name = (root.get("name") or "").strip() or path.stem
    origin = (root.get("origin") or "").strip()
    out = Path(out) if out is not None else Path("imported") / safe_file_stem(name, fallback="project")
    result = ProjectImport(out=out, name=name, origin=origin or "unknown tool", not_imported=reader.not_imported)

    codebook_element = root.find(f"{{{ns}}}CodeBook")
    codes = read_codes(
        codebook_element.find(f"{{{ns}}}Codes") if codebook_element is not None else None, ns, where=where
    )
    imported = (
        codebook_from_refi(codes, read_sets(root.find(f"{{{ns}}}Sets"), ns), name=name, origin=origin)
        if codes
        else None
    )
    if imported:
        result.warnings.extend(imported.notes)
    theme_of = _target_ids(imported, target) if imported else {}
    known_themes = set(target.theme_ids if target else imported.codebook.theme_ids if imported else [])
    code_names = imported.code_names if imported else {}
    if not sources:
        result.warnings.append(
            "the project has no text sources: no transcripts or codings to import"
            + (" (its codes are written to codebook.yaml)" if imported else "")
        )
    if not sources and not imported:
        return result
    _check_out(out, force=force)

    taken_files: set[str] = set()
    taken_ids: set[str] = set()
    taken_columns: set[str] = {"file", "id"}
    columns = {guid: column_name(variable, taken_columns) for guid, variable in variables.items()}
    metadata_rows, coded, provenance = [], [], []
    unknown_refs = 0
    for source in sources:
        related = [case for case in cases if source.guid in case[2]]
        named = [case for case in related if case[0] and len(case[2]) == 1]
        base_id = named[0][0] if len(named) == 1 else (PurePosixPath(source.name.replace("\\", "/")).stem or "source")
        transcript_id, number = base_id, 1
        while transcript_id in taken_ids:
            number += 1
            transcript_id = f"{base_id}_{number}"
        taken_ids.add(transcript_id)
        file_name = transcript_file_name(source.name, source.text, taken_files)
        row: dict[str, str] = {"file": file_name, "id": transcript_id}
        for _, values, _ in related:
            for guid, value in values.items():
                row.setdefault(columns.get(guid) or column_name(guid, taken_columns), value)
        for guid, value in source.variables.items():
            row.setdefault(columns.get(guid) or column_name(guid, taken_columns), value)
        metadata_rows.append(row)

        detection = detect_convention(
            source.text, [RawSelection(s.start, s.end, s.name) for s in source.selections], origin=origin
        )
        offsets = OffsetMap(source.text, detection.convention)
        count, misfits = 0, []
        for selection in source.selections:
            start, end = offsets.to_codepoint(selection.start), offsets.to_codepoint(selection.end)
            if start is None or end is None or start >= end:
                misfits.append(f"{selection.start}-{selection.end}")
                continue
            memos = [selection.memo] if selection.memo else []
            for note_guid in selection.notes:
                records, bad = _provenance(notes.get(note_guid, ""), where=f"provenance note {note_guid}")
                result.not_imported.extend(bad)
                provenance.extend(
                    {TRANSCRIPT_ID: transcript_id, START_CHAR: start, END_CHAR: end, **record} for record in records
                )
                if not records and notes.get(note_guid, "").strip():
                    memos.append(notes[note_guid].strip())
            for code_guid, user_guid in selection.codings:
                if code_guid not in theme_of:
                    unknown_refs += 1
                    continue
                coder = users.get(user_guid) or (f"user-{user_guid[:8]}" if user_guid else "unknown")
                coded.append(
                    {
                        CODER: coder,
                        TRANSCRIPT_ID: transcript_id,
                        START_CHAR: start,
                        END_CHAR: end,
                        THEME: theme_of[code_guid],
                        TEXT: source.text[start:end],
                        "note": " | ".join(memos),
                        "_code": code_guid,
                    }
                )
                count += 1
        if misfits:
            result.not_imported.append(
                f"{source.name}: {len(misfits)} selection(s) do not fit its text "
                f"({len(source.text)} characters), e.g. {', '.join(misfits[:3])}"
            )
        result.sources.append(
            ImportedSource(
                id=transcript_id,
                file=file_name,
                characters=len(source.text),
                codings=count,
                offsets=detection.describe() if source.selections else "no selections",
            )
        )
    if unknown_refs:
        result.not_imported.append(f"{unknown_refs} coding(s) refer to codes that are not in the project's codebook")

    # Everything is written to a staging folder beside `out`, then moved into place: a failure leaves no half import.
    written: list[Path] = []
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = out.parent / f".{out.name}.import-{uuid.uuid4().hex[:12]}"
    stage.mkdir()  # mkdir, not mkdtemp: the folder gets the usual permissions when it becomes `out`
    staged_transcripts = stage / "transcripts"
    try:
        for source, imported_source in zip(sources, result.sources):
            written.append(atomic_write_bytes(staged_transcripts / imported_source.file, source.text.encode("utf-8")))
        if metadata_rows:
            order = list(dict.fromkeys(["file", "id", *columns.values(), *(c for r in metadata_rows for c in r)]))
            order = [c for c in order if any(c in r for r in metadata_rows)]
            metadata = pd.DataFrame(metadata_rows).reindex(columns=order).fillna("")
            written.append(write_csv(metadata, staged_transcripts / "metadata.csv"))
        if coded:
            frame = pd.DataFrame(coded).drop_duplicates([CODER, TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME])
            for theme, rows in frame[~frame[THEME].isin(known_themes)].groupby(THEME):
                result.unknown_codes[str(theme)] = (code_names.get(rows["_code"].iloc[0], str(theme)), len(rows))
            taken_coders: set[str] = set()
            for coder, rows in frame.groupby(CODER, sort=True):
                stem = _unique(safe_file_stem(str(coder), fallback="coder"), taken_coders)
                rows = rows.sort_values([TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME])[CODER_COLUMNS]
                written.append(write_csv(rows, stage / "coded" / f"{stem}.csv"))
                result.coders[stem] = len(rows)
        if provenance:
            frame = pd.DataFrame(provenance)
            leading = [TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME, CODER]
            frame = frame[[*leading, *[c for c in frame.columns if c not in leading]]]
            written.append(write_csv(frame.sort_values(leading), stage / "provenance.csv"))
            result.provenance_rows = len(frame)
        if imported:
            result.codebook_path = atomic_write_text(
                stage / "codebook.yaml", codebook_yaml(imported.codebook, source=path.name)
            )
            written.append(result.codebook_path)
        _switch(stage, out)
        result.written = [out / path.relative_to(stage) for path in written]
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    if result.codebook_path is not None:
        result.codebook_path = out / "codebook.yaml"
    transcripts_dir = out / "transcripts"
    if sources:
        result.warnings.extend(_check_readable(transcripts_dir))
    return result


def _switch(stage: Path, out: Path) -> None:
    """Move the staged import into `out`: in one rename when `out` is new or empty, else file by file (--force)."""
    staged = sorted(path for path in stage.rglob("*") if path.is_file())
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        os.replace(stage, out)
        return
    for path in staged:
        target = out / path.relative_to(stage)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)


def _check_readable(folder: Path) -> list[str]:
    """Problems ingest reports on the written transcripts (so a later run holds no surprises)."""
    try:
        transcripts, skipped = discover(folder)
    except QualcodeError as exc:
        return [f"the imported transcripts cannot be read: {exc}"]
    warnings = [f"{folder}/{s.source}: ingest skips it: {s.reason}" for s in problems(skipped)]
    unlabelled = sum(NO_LABELS_WARNING in t.warnings for t in transcripts)
    if unlabelled:
        warnings.append(f"{unlabelled} transcript(s) have no speaker labels: ingest codes each as one respondent")
    warnings.extend(f"{folder}/{t.source}: {w}" for t in transcripts for w in t.warnings if w != NO_LABELS_WARNING)
    return warnings
