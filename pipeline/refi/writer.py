"""Export a coded project as a REFI-QDA `.qdpx` for NVivo, ATLAS.ti, MAXQDA or QualCoder.

Each transcript becomes a TextSource whose plain text is the transcript's `text` exactly (UTF-8, no BOM), so
selection offsets are qualcode's own code-point offsets. Every tag that counts as evidence becomes a coding
of its segment by the user "qualcode" (or by its reviewer); what REFI-QDA has no slot for (method, rule,
score, review) goes into a Note linked to the selection. GUIDs are uuid5 of stable keys and the ZIP has
fixed timestamps, so exporting the same run twice gives the same bytes.
"""

from __future__ import annotations

import io
import json
import math
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.codebook.load import load_codebook
from pipeline.codebook.model import Codebook
from pipeline.coding.table import (
    CODEBOOK_HASH,
    CODEBOOK_VERSION,
    END_CHAR,
    EVIDENCE,
    MATCH_END,
    MATCH_START,
    MATCHED,
    METHOD,
    MODEL,
    ROLE,
    RULE_ID,
    SCORE,
    SEGMENT_ID,
    SPEAKER,
    START_CHAR,
    TEXT,
    THEME,
    TRANSCRIPT_ID,
    read_table,
    read_tags,
)
from pipeline.core.errors import ExchangeError
from pipeline.core.files import atomic_write_bytes, settle_reports
from pipeline.ingest.read import discover, problems
from pipeline.ingest.records import Transcript
from pipeline.refi.codebook import ORIGIN, append_codes, append_tor_sets
from pipeline.refi.xml import PROJECT_NS, PROJECT_SCHEMA_LOCATION, XSI_NS, stable_guid, xml_text

QUALCODE_USER = "qualcode"
# Columns the review step (pipeline/review.py) adds to tags.csv; named here so export needs no review imports.
REVIEW_STATUS = "review_status"  # unreviewed / accepted / rejected / changed / stale
REVIEWER = "reviewer"
DECISION_ID = "decision_id"
CODER = "coder"
NOT_REVIEWED = frozenset({"", "unreviewed", "stale", "pending", "none", "nan"})
PROVENANCE_HEADER = "qualcode provenance"
PROVENANCE_FIELDS = (
    SEGMENT_ID,
    SPEAKER,
    ROLE,
    METHOD,
    RULE_ID,
    MATCHED,
    MATCH_START,
    MATCH_END,
    SCORE,
    MODEL,
    CODEBOOK_VERSION,
    CODEBOOK_HASH,
    REVIEW_STATUS,
    REVIEWER,
    DECISION_ID,
)
SKIPPED_METADATA = frozenset({"id", "file"})
NAME_LIMIT = 100
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class ExportResult:
    """What `export_qdpx` wrote, for the command's summary."""

    path: Path
    transcripts: int
    themes: int
    selections: int
    codings: int
    users: list[str]
    warnings: list[str] = field(default_factory=list)


def q(name: str) -> str:
    return f"{{{PROJECT_NS}}}{name}"


def evidence_codings(tags: pd.DataFrame, *, where: str) -> pd.DataFrame:
    """The tags that count as evidence, each with its coding user: its reviewer when reviewed, else "qualcode".

    Rejected tags (review_status "rejected") are left out.
    """
    missing = [c for c in (TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME, EVIDENCE) if c not in tags.columns]
    if missing:
        raise ExchangeError(f"not a qualcode tags table: missing column(s) {', '.join(missing)}", path=where)
    rows = tags.assign(_row=range(1, len(tags) + 1))[tags[EVIDENCE].astype(bool)].copy()
    status = rows[REVIEW_STATUS].fillna("").astype(str).str.strip().str.lower() if REVIEW_STATUS in rows else None
    if status is not None:
        rows, status = rows[status != "rejected"], status[status != "rejected"]
    rows[CODER] = QUALCODE_USER
    if status is not None:
        reviewer = (
            rows[REVIEWER].fillna("").astype(str).str.strip() if REVIEWER in rows else pd.Series("", index=rows.index)
        )
        reviewed = ~status.isin(NOT_REVIEWED)
        rows.loc[reviewed, CODER] = reviewer[reviewed].where(reviewer[reviewed] != "", "reviewer")
    return rows


def _clean(value: Any) -> Any:
    """A JSON-ready Python value, or None for missing values (NaN, NA, empty text)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return None if value == "" else value


def provenance_note(rows: pd.DataFrame) -> str:
    """A note's text: a header line, then one JSON object per tag (theme, coder and how it was found)."""
    lines = [PROVENANCE_HEADER]
    for _, row in rows.iterrows():
        record = {THEME: row[THEME], CODER: row[CODER]}
        for name in PROVENANCE_FIELDS:
            value = _clean(row.get(name))
            if value is not None:
                record[name] = value
        lines.append(json.dumps(record, ensure_ascii=False, sort_keys=False))
    return "\n".join(lines)


# --- variables -------------------------------------------------------------------------------


def metadata_value(value: Any) -> Any:
    """A metadata value as one cell: lists joined with "; ", speaker mappings as "label=role; ..."."""
    if isinstance(value, Mapping):
        return "; ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "; ".join(map(str, value))
    return value


def variable_type(values: Sequence[Any]) -> str:
    """The REFI-QDA typeOfVariable that fits every value (Text when they differ)."""
    if all(isinstance(v, bool) for v in values):
        return "Boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "Integer"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        return "Float"
    if all(isinstance(v, datetime) for v in values):
        return "DateTime"
    if all(isinstance(v, date) and not isinstance(v, datetime) for v in values):
        return "Date"
    return "Text"


def _typed_value(value: Any, kind: str) -> tuple[str, str]:
    if kind == "Boolean":
        return "BooleanValue", "true" if value else "false"
    if kind == "Integer":
        return "IntegerValue", str(value)
    if kind == "Float":
        return "FloatValue", format(Decimal(repr(float(value))), "f")
    if kind in ("Date", "DateTime"):
        return f"{kind}Value", value.isoformat()
    return "TextValue", xml_text(value)


def transcript_variables(transcripts: Sequence[Transcript]) -> dict[str, str]:
    """Metadata fields across transcripts, in first-seen order, with the REFI-QDA type that fits their values."""
    values: dict[str, list[Any]] = {}
    for transcript in transcripts:
        for key, value in transcript.metadata.items():
            value = metadata_value(value)
            if key in SKIPPED_METADATA or value is None or value == "":
                continue
            values.setdefault(str(key), []).append(value)
    return {name: variable_type(found) for name, found in values.items()}


# --- the project -----------------------------------------------------------------------------


def build_project(
    *, transcripts: Sequence[Transcript], codebook: Codebook, codings: pd.DataFrame, name: str, description: str = ""
) -> tuple[bytes, dict[str, bytes], dict[str, int]]:
    """The project.qde bytes, the source files (archive path -> bytes), and counts."""
    ET.register_namespace("", PROJECT_NS)
    ET.register_namespace("xsi", XSI_NS)
    users = [QUALCODE_USER] + sorted(set(codings[CODER]) - {QUALCODE_USER}) if len(codings) else [QUALCODE_USER]
    user_guid = {user: stable_guid("user", user) for user in users}
    root = ET.Element(
        q("Project"),
        {
            "name": xml_text(name),
            "origin": ORIGIN,
            "creatingUserGUID": user_guid[QUALCODE_USER],
            f"{{{XSI_NS}}}schemaLocation": PROJECT_SCHEMA_LOCATION,
        },
    )
    users_element = ET.SubElement(root, q("Users"))
    for user in users:
        ET.SubElement(users_element, q("User"), guid=user_guid[user], name=xml_text(user))
    codebook_element = ET.SubElement(root, q("CodeBook"))
    theme_guids = append_codes(codebook_element, codebook, namespace=PROJECT_NS)

    variables = transcript_variables(transcripts)
    if variables:
        variables_element = ET.SubElement(root, q("Variables"))
        for variable, kind in variables.items():
            ET.SubElement(
                variables_element,
                q("Variable"),
                guid=stable_guid("variable", variable),
                name=xml_text(variable),
                typeOfVariable=kind,
            )
    cases = ET.SubElement(root, q("Cases"))
    sources = ET.SubElement(root, q("Sources"))
    notes: list[ET.Element] = []
    files: dict[str, bytes] = {}
    counts = {"selections": 0, "codings": 0}
    by_transcript = {tid: rows for tid, rows in codings.groupby(TRANSCRIPT_ID, sort=False)} if len(codings) else {}
    for transcript in transcripts:
        source_guid = stable_guid("source", transcript.id)
        case = ET.SubElement(cases, q("Case"), guid=stable_guid("case", transcript.id), name=xml_text(transcript.id))
        for variable, kind in variables.items():
            value = metadata_value(transcript.metadata.get(variable))
            if value is None or value == "":
                continue
            holder = ET.SubElement(case, q("VariableValue"))
            ET.SubElement(holder, q("VariableRef"), targetGUID=stable_guid("variable", variable))
            tag, text = _typed_value(value, kind)
            ET.SubElement(holder, q(tag)).text = text
        ET.SubElement(case, q("SourceRef"), targetGUID=source_guid)
        files[f"sources/{source_guid}.txt"] = transcript.text.encode("utf-8")
        source = ET.SubElement(
            sources,
            q("TextSource"),
            guid=source_guid,
            name=xml_text(transcript.source),
            plainTextPath=f"internal://{source_guid}.txt",
            creatingUser=user_guid[QUALCODE_USER],
        )
        rows = by_transcript.get(transcript.id)
        if rows is None:
            continue
        for (start, end), span_rows in rows.groupby([START_CHAR, END_CHAR], sort=True):
            start, end = int(start), int(end)
            quoted = transcript.text[start:end]
            name_text = " ".join(quoted.split())
            if len(name_text) > NAME_LIMIT:
                name_text = name_text[:NAME_LIMIT].rstrip() + "…"
            selection_guid = stable_guid("selection", transcript.id, start, end)
            selection = ET.SubElement(
                source,
                q("PlainTextSelection"),
                guid=selection_guid,
                name=xml_text(name_text),
                startPosition=str(start),
                endPosition=str(end),
                creatingUser=user_guid[QUALCODE_USER],
            )
            counts["selections"] += 1
            for (theme, coder), _ in span_rows.groupby([THEME, CODER], sort=True):
                coding = ET.SubElement(
                    selection,
                    q("Coding"),
                    guid=stable_guid("coding", transcript.id, start, end, theme, coder),
                    creatingUser=user_guid[coder],
                )
                ET.SubElement(coding, q("CodeRef"), targetGUID=theme_guids[theme])
                counts["codings"] += 1
            note_guid = stable_guid("note", transcript.id, start, end)
            ET.SubElement(selection, q("NoteRef"), targetGUID=note_guid)
            note = ET.Element(
                q("Note"),
                guid=note_guid,
                name=xml_text(f"{PROVENANCE_HEADER}: {transcript.id} {start}-{end}"),
                creatingUser=user_guid[QUALCODE_USER],
            )
            ET.SubElement(note, q("PlainTextContent")).text = xml_text(
                provenance_note(span_rows.sort_values([THEME, CODER]))
            )
            notes.append(note)
    if not len(cases):
        root.remove(cases)
    if not len(sources):
        root.remove(sources)
    if notes:
        ET.SubElement(root, q("Notes")).extend(notes)
    append_tor_sets(root, codebook, theme_guids, namespace=PROJECT_NS, member_attribute="targetGUID")
    if description:
        ET.SubElement(root, q("Description")).text = xml_text(description)
    ET.indent(root)
    qde = ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
    return qde, files, {**counts, "users": len(users)}


def qdpx_bytes(qde: bytes, files: Mapping[str, bytes]) -> bytes:
    """A deterministic ZIP: project.qde first, then sources/ in name order, fixed timestamps."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in [("project.qde", qde), *sorted(files.items())]:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def check_codings(codings: pd.DataFrame, transcripts: Sequence[Transcript], codebook: Codebook, *, where: str) -> None:
    """Every coding must name a known transcript and theme and lie inside the transcript's text, on the segment's
    own text: otherwise the transcripts (or codebook) changed since the run."""
    texts = {t.id: t.text for t in transcripts}
    themes = set(codebook.theme_ids)
    for _, row in codings.iterrows():
        where_row = f"{where}: row {int(row['_row'])}"
        tid, theme = str(row[TRANSCRIPT_ID]), str(row[THEME])
        if tid not in texts:
            raise ExchangeError(
                f"transcript {tid!r} is not in the transcripts folder (were the reports made from "
                "another folder? pass --transcripts)",
                path=where_row,
            )
        if theme not in themes:
            raise ExchangeError(
                f"theme {theme!r} is not in the codebook (were the reports made with another "
                "codebook? pass --codebook)",
                path=where_row,
            )
        try:
            start, end = int(row[START_CHAR]), int(row[END_CHAR])
        except (TypeError, ValueError):
            raise ExchangeError("start_char and end_char must be whole numbers", path=where_row) from None
        text = texts[tid]
        if not 0 <= start < end <= len(text):
            raise ExchangeError(
                f"offsets {start}-{end} lie outside transcript {tid!r} ({len(text)} characters)", path=where_row
            )
        if (
            TEXT in row
            and isinstance(row[TEXT], str)
            and row[TEXT]
            and " ".join(row[TEXT].split()) != " ".join(text[start:end].split())
        ):
            raise ExchangeError(
                f"the tag's text is not transcript {tid!r} at {start}-{end}: the transcript changed "
                "since the run; run `qualcode run` again",
                path=where_row,
            )


def export_qdpx(
    *, transcripts_dir: Path, codebook_path: Path, reports_dir: Path, out: Path, name: str | None = None
) -> ExportResult:
    """Write `out` (.qdpx) from the transcripts, the codebook and the run's reports/tags.csv."""
    codebook = load_codebook(codebook_path)
    transcripts, skipped = discover(transcripts_dir)
    settle_reports(reports_dir)
    tags_path = Path(reports_dir) / "tags.csv"
    if not tags_path.is_file():
        raise ExchangeError(
            "no tags table here: run `qualcode run` first (or point --reports at its folder)", path=tags_path
        )
    try:
        tags = read_tags(tags_path)  # ids and versions stay text ("001", "1.10")
    except (ValueError, pd.errors.ParserError) as exc:
        raise ExchangeError(f"cannot read tags table: {' '.join(str(exc).split())}", path=tags_path) from None
    codings = evidence_codings(tags, where=str(tags_path))
    check_codings(codings, transcripts, codebook, where=str(tags_path))
    warnings = [f"{transcripts_dir}/{s.source}: not exported: {s.reason}" for s in problems(skipped)]
    metadata_path = Path(reports_dir) / "metadata.csv"
    if metadata_path.is_file():
        run_ids = set(read_table(metadata_path).get(TRANSCRIPT_ID, pd.Series(dtype=str)))
        current = {t.id for t in transcripts}
        if run_ids and run_ids != current:
            warnings.append(
                f"{metadata_path} lists other transcripts than {transcripts_dir} "
                f"({len(run_ids - current)} only in the run, {len(current - run_ids)} only in the folder)"
            )
    description = (
        f"Exported by {ORIGIN} from {Path(transcripts_dir).name}/, coded against the codebook "
        f"{codebook.name!r} version {codebook.version} (hash {codebook.hash}). Codings are the tags that "
        "count as evidence (negated, hypothetical and interviewer mentions are left out); how each was "
        "found is in the note linked to its selection."
    )
    qde, files, counts = build_project(
        transcripts=transcripts, codebook=codebook, codings=codings, name=name or codebook.name, description=description
    )
    atomic_write_bytes(out, qdpx_bytes(qde, files))
    users = sorted(set(codings[CODER])) if len(codings) else []
    return ExportResult(
        path=Path(out),
        transcripts=len(transcripts),
        themes=len(codebook.themes),
        selections=counts["selections"],
        codings=counts["codings"],
        users=users,
        warnings=warnings,
    )
