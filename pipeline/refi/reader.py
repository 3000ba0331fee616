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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from pipeline.codebook.load import load_codebook
from pipeline.codebook.model import Codebook
from pipeline.coding.table import END_CHAR, START_CHAR, TEXT, THEME, TRANSCRIPT_ID, write_csv
from pipeline.core.errors import ExchangeError, QualcodeError
from pipeline.core.files import atomic_write_chunks, atomic_write_text
from pipeline.ingest.decode import decode_text, utf8_chunks
from pipeline.ingest.read import NO_LABELS_WARNING, problems, scan
from pipeline.ingest.records import Skipped
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
    iterparse_xml,
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
    member: str | None  # the archive member holding its text, streamed when the source is imported
    inline: str | None  # or its text, when the project file holds it (PlainTextContent)
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
        self._sources: list[_Source] = []
        self._source_notes: list[str] = []

    @classmethod
    def parse(cls, archive: SafeArchive, member: str, *, where: str) -> _ProjectReader:
        """Parse the project file as a stream: each source element is read into a small record and dropped,
        so memory holds the project's structure and selections, not a tree of every source."""
        events = iterparse_xml(archive.open(member), where=where)
        _, root = next(events)
        ns, local = split_tag(root.tag)
        reader = cls(archive, root, ns)
        stack = [root]
        for event, element in events:  # a malformed file fails here, before its root is judged
            if event == "start":
                stack.append(element)
                continue
            stack.pop()
            if len(stack) == 2 and stack[1].tag == f"{{{ns}}}Sources":
                record = reader._source(element)
                if record is not None:
                    reader._sources.append(record)
                stack[1].remove(element)
        if local != "Project" or not ns.startswith(PROJECT_NS_PREFIX):
            raise ExchangeError(
                f"not a REFI-QDA project: the root element is <{local}> in namespace {ns!r}, not "
                "<Project> (urn:QDA-XML:project:1.0)",
                path=where,
            )
        return reader

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

    def internal_member(self, path_value: str, *, what: str, notes: list[str]) -> str | None:
        """The archive member of an `internal://` file, or None (noted in `notes`) when it is external or missing."""
        if not path_value.startswith("internal://"):
            notes.append(f"{what}: external file {path_value!r} (only internal sources are read)")
            return None
        member = self.archive.find_source(path_value[len("internal://") :])
        if member is None:
            notes.append(f"{what}: {path_value!r} is not in the archive")
        return member

    def internal_text(self, path_value: str, *, what: str) -> str | None:
        """Text of an `internal://` file, or None (noted) when it is external, missing or not UTF-8."""
        member = self.internal_member(path_value, what=what, notes=self.not_imported)
        if member is None:
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
        """The text sources read while parsing, and notes on the sources and parts not imported."""
        self.not_imported.extend(self._source_notes)
        for ignored in ("Links", "Graphs"):
            element = self.find(ignored)
            if element is not None and len(element):
                self.not_imported.append(f"{len(element)} {ignored.lower()} (qualcode has no use for them)")
        return self._sources

    def _source(self, source: ET.Element) -> _Source | None:
        """One source element as a record (its text still in the archive), or None (noted) when not imported."""
        kind, name = split_tag(source.tag)[1], (source.get("name") or "").strip()
        if kind != "TextSource":
            self._source_notes.append(f"{kind} {name!r}: only text sources are imported")
            return None
        what = f"text source {name!r}"
        member = inline = None
        if source.get("plainTextPath"):
            member = self.internal_member(source.get("plainTextPath", ""), what=what, notes=self._source_notes)
            if member is None:
                return None
        elif source.find(f"{{{self.ns}}}PlainTextContent") is not None:
            inline = child_text(source, self.ns, "PlainTextContent")
        else:
            self._source_notes.append(f"{what}: no plain-text representation (richTextPath only)")
            return None
        whole = len(list(children(source, self.ns, "Coding")))
        if whole:
            self._source_notes.append(f"{what}: {whole} coding(s) of the whole source (not of a text selection)")
        selections = []
        for selection in children(source, self.ns, "PlainTextSelection"):
            try:
                start, end = int(selection.get("startPosition", "")), int(selection.get("endPosition", ""))
            except ValueError:
                self._source_notes.append(f"{what}: a selection without whole-number positions")
                continue
            codings = [
                (
                    guid_key(ref.get("targetGUID")),
                    guid_key(coding.get("creatingUser") or selection.get("creatingUser") or source.get("creatingUser")),
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
        return _Source(
            guid=guid_key(source.get("guid")),
            name=name or "source",
            member=member,
            inline=inline,
            selections=selections,
            variables=_variable_values(source, self.ns),
        )

    def stage_text(self, source: _Source, path: Path) -> str | None:
        """Write a source's text to `path` as UTF-8 (BOM dropped) and return it; the member is streamed through an
        incremental decoder, never held as bytes and text at once. None (noted, nothing left) if not UTF-8."""
        if source.member is None:
            text: Iterable[bytes | str] = [source.inline or ""]
        else:
            text = utf8_chunks(self.archive.stream(source.member))
        try:
            atomic_write_chunks(path, text)
        except UnicodeDecodeError:
            self.not_imported.append(f"text source {source.name!r}: {source.member} is not UTF-8 text")
            return None
        with path.open(encoding="utf-8", newline="") as staged:  # newline="": CRLF kept, offsets count it
            return staged.read()


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
    """Import a .qdpx into `out` (default imported/<project name>/): transcripts, coder files, codebook.yaml.

    Sources are streamed one at a time into a staging folder beside `out`, which is moved into place at the end:
    memory is bounded by the largest source, not the archive, and a failure leaves no half import."""
    path = Path(path)
    target = load_codebook(codebook_path) if codebook_path else None
    with SafeArchive(path, max_bytes=max_bytes) as archive:
        member = archive.project_member()
        where = f"{path}:{member}"
        reader = _ProjectReader.parse(archive, member, where=where)
        root, ns = reader.root, reader.ns
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
        if not sources and not imported:
            result.warnings.append("the project has no text sources: no transcripts or codings to import")
            return result
        _check_out(out, force=force)
        out.parent.mkdir(parents=True, exist_ok=True)
        stage = out.parent / f".{out.name}.import-{uuid.uuid4().hex[:12]}"
        stage.mkdir()  # mkdir, not mkdtemp: the folder gets the usual permissions when it becomes `out`
        try:
            context = _Context(
                users=users,
                notes=notes,
                cases=cases,
                columns={},
                theme_of=_target_ids(imported, target) if imported else {},
                origin=origin,
            )
            taken_columns: set[str] = {"file", "id"}
            context.columns.update((guid, column_name(v, taken_columns)) for guid, v in variables.items())
            staged = _stage_sources(reader, sources, stage, result, context, taken_columns)
            if not result.sources:
                result.warnings.append(
                    "the project has no text sources: no transcripts or codings to import"
                    + (" (its codes are written to codebook.yaml)" if imported else "")
                )
            known_themes = set(target.theme_ids if target else imported.codebook.theme_ids if imported else [])
            written = staged.written + _stage_tables(
                staged, stage, result, context, known_themes, imported.code_names if imported else {}
            )
            if imported:
                result.codebook_path = atomic_write_text(
                    stage / "codebook.yaml", codebook_yaml(imported.codebook, source=path.name)
                )
                written.append(result.codebook_path)
            if not written:
                return result
            _switch(stage, out)
            result.written = [out / path.relative_to(stage) for path in written]
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    if result.codebook_path is not None:
        result.codebook_path = out / "codebook.yaml"
    if result.sources:
        result.warnings.extend(_check_readable(out / "transcripts"))
    return result


@dataclass
class _Context:
    """What every source's import looks up: users, notes, cases, metadata columns and code -> theme ids."""

    users: dict[str, str]
    notes: dict[str, str]
    cases: list[tuple[str, dict[str, str], list[str]]]
    columns: dict[str, str]
    theme_of: dict[str, str]
    origin: str


@dataclass
class _Staged:
    """The rows gathered while sources were staged, and the transcript files written."""

    metadata: list[dict[str, str]] = field(default_factory=list)
    coded: list[dict[str, Any]] = field(default_factory=list)
    provenance: list[dict[str, Any]] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)


def _stage_sources(
    reader: _ProjectReader,
    sources: list[_Source],
    stage: Path,
    result: ProjectImport,
    context: _Context,
    taken_columns: set[str],
) -> _Staged:
    """Write each source's text to `stage/transcripts/` and gather its metadata and codings, one source at a time."""
    staged = _Staged()
    taken_files: set[str] = set()
    taken_ids: set[str] = set()
    unknown_refs = 0
    for number, source in enumerate(sources):
        scratch = stage / f".source-{number}"
        text = reader.stage_text(source, scratch)
        if text is None:
            continue
        related = [case for case in context.cases if source.guid in case[2]]
        named = [case for case in related if case[0] and len(case[2]) == 1]
        base_id = named[0][0] if len(named) == 1 else (PurePosixPath(source.name.replace("\\", "/")).stem or "source")
        transcript_id, suffix = base_id, 1
        while transcript_id in taken_ids:
            suffix += 1
            transcript_id = f"{base_id}_{suffix}"
        taken_ids.add(transcript_id)
        file_name = transcript_file_name(source.name, text, taken_files)
        target = stage / "transcripts" / file_name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(scratch, target)
        staged.written.append(target)
        row: dict[str, str] = {"file": file_name, "id": transcript_id}
        for _, values, _ in related:
            for guid, value in values.items():
                row.setdefault(context.columns.get(guid) or column_name(guid, taken_columns), value)
        for guid, value in source.variables.items():
            row.setdefault(context.columns.get(guid) or column_name(guid, taken_columns), value)
        staged.metadata.append(row)

        detection = detect_convention(
            text, [RawSelection(s.start, s.end, s.name) for s in source.selections], origin=context.origin
        )
        offsets = OffsetMap(text, detection.convention)
        count, misfits = 0, []
        for selection in source.selections:
            start, end = offsets.to_codepoint(selection.start), offsets.to_codepoint(selection.end)
            if start is None or end is None or start >= end:
                misfits.append(f"{selection.start}-{selection.end}")
                continue
            memos = [selection.memo] if selection.memo else []
            for note_guid in selection.notes:
                records, bad = _provenance(context.notes.get(note_guid, ""), where=f"provenance note {note_guid}")
                result.not_imported.extend(bad)
                staged.provenance.extend(
                    {TRANSCRIPT_ID: transcript_id, START_CHAR: start, END_CHAR: end, **record} for record in records
                )
                if not records and context.notes.get(note_guid, "").strip():
                    memos.append(context.notes[note_guid].strip())
            for code_guid, user_guid in selection.codings:
                if code_guid not in context.theme_of:
                    unknown_refs += 1
                    continue
                coder = context.users.get(user_guid) or (f"user-{user_guid[:8]}" if user_guid else "unknown")
                staged.coded.append(
                    {
                        CODER: coder,
                        TRANSCRIPT_ID: transcript_id,
                        START_CHAR: start,
                        END_CHAR: end,
                        THEME: context.theme_of[code_guid],
                        TEXT: text[start:end],
                        "note": " | ".join(memos),
                        "_code": code_guid,
                    }
                )
                count += 1
        if misfits:
            result.not_imported.append(
                f"{source.name}: {len(misfits)} selection(s) do not fit its text "
                f"({len(text)} characters), e.g. {', '.join(misfits[:3])}"
            )
        result.sources.append(
            ImportedSource(
                id=transcript_id,
                file=file_name,
                characters=len(text),
                codings=count,
                offsets=detection.describe() if source.selections else "no selections",
            )
        )
        del text, offsets  # before the next source is read
    if unknown_refs:
        result.not_imported.append(f"{unknown_refs} coding(s) refer to codes that are not in the project's codebook")
    return staged


def _stage_tables(
    staged: _Staged,
    stage: Path,
    result: ProjectImport,
    context: _Context,
    known_themes: set[str],
    code_names: dict[str, str],
) -> list[Path]:
    """Write metadata.csv, one coder file per user and provenance.csv into the staging folder."""
    written = []
    if staged.metadata:
        rows = staged.metadata
        order = list(dict.fromkeys(["file", "id", *context.columns.values(), *(c for r in rows for c in r)]))
        order = [c for c in order if any(c in r for r in rows)]
        metadata = pd.DataFrame(rows).reindex(columns=order).fillna("")
        written.append(write_csv(metadata, stage / "transcripts" / "metadata.csv"))
    if staged.coded:
        frame = pd.DataFrame(staged.coded).drop_duplicates([CODER, TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME])
        for theme, rows in frame[~frame[THEME].isin(known_themes)].groupby(THEME):
            result.unknown_codes[str(theme)] = (code_names.get(rows["_code"].iloc[0], str(theme)), len(rows))
        taken_coders: set[str] = set()
        for coder, rows in frame.groupby(CODER, sort=True):
            stem = _unique(safe_file_stem(str(coder), fallback="coder"), taken_coders)
            rows = rows.sort_values([TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME])[CODER_COLUMNS]
            written.append(write_csv(rows, stage / "coded" / f"{stem}.csv"))
            result.coders[stem] = len(rows)
    if staged.provenance:
        frame = pd.DataFrame(staged.provenance)
        leading = [TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME, CODER]
        frame = frame[[*leading, *[c for c in frame.columns if c not in leading]]]
        written.append(write_csv(frame.sort_values(leading), stage / "provenance.csv"))
        result.provenance_rows = len(frame)
    return written


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
    skipped, unlabelled, warnings = [], 0, []
    try:
        for item in scan(folder):  # one transcript at a time: only its warnings are kept
            if isinstance(item, Skipped):
                skipped.extend(problems([item]))
                continue
            unlabelled += NO_LABELS_WARNING in item.warnings
            warnings.extend(f"{folder}/{item.source}: {w}" for w in item.warnings if w != NO_LABELS_WARNING)
    except QualcodeError as exc:
        return [f"the imported transcripts cannot be read: {exc}"]
    found = [f"{folder}/{s.source}: ingest skips it: {s.reason}" for s in skipped]
    if unlabelled:
        found.append(f"{unlabelled} transcript(s) have no speaker labels: ingest codes each as one respondent")
    return found + warnings
