"""Transcript metadata: the sidecar metadata.csv and YAML front matter, coerced to types."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.errors import TranscriptError
from pipeline.core.yamltext import YamlProblem, load_yaml
from pipeline.ingest.decode import decode_bytes

# --- lines and front matter -----------------------------------------------------------------

_LINE_END = re.compile(r"\r\n|\r|\n")


def text_lines(text: str, start: int = 0) -> Iterator[tuple[int, str]]:
    """Yield (offset, line) for each line from `start`, without its ending (CRLF, LF or CR); one line at a time,
    so a long text is never copied whole."""
    pos = start
    if "\r" in text:
        for ending in _LINE_END.finditer(text, start):
            yield pos, text[pos : ending.start()]
            pos = ending.end()
    else:  # LF only, as most files are: str.find scans several times faster than the regex
        while (end := text.find("\n", pos)) >= 0:
            yield pos, text[pos:end]
            pos = end + 1
    yield pos, text[pos:]


def line_number(text: str, offset: int) -> int:
    """1-based line number of a character offset."""
    return text.count("\n", 0, offset) + 1


def front_matter(text: str, where: str) -> tuple[dict[str, Any], int]:
    """Parse YAML front matter between a first line `---` and the next `---`; return it and the body offset.

    A block that is valid YAML but not a mapping (a title between two rules) is left as text."""
    lines = text_lines(text)
    if next(lines)[1].rstrip() != "---":
        return {}, 0
    yaml_start = None
    for offset, line in lines:
        yaml_start = offset if yaml_start is None else yaml_start
        if line.rstrip() not in ("---", "..."):
            continue
        try:
            data, _ = load_yaml(text[yaml_start:offset])
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            line_no = mark.line + 2 if mark is not None else 1  # +1 for 0-based, +1 for the opening ---
            raise TranscriptError(f"malformed YAML front matter: {problem}", path=where, line=line_no) from None
        except YamlProblem as exc:
            line_no = exc.line + 1 if exc.line is not None else 1  # +1 for the opening ---
            raise TranscriptError(f"YAML front matter: {exc.message}", path=where, line=line_no) from None
        if data is not None and not isinstance(data, dict):  # e.g. a title between two rules: not front matter
            return {}, 0
        return data or {}, offset + len(line)
    raise TranscriptError("front matter opened with '---' is never closed", path=where, line=1)


# --- metadata -------------------------------------------------------------------------------

_TRUE = frozenset({"true", "yes", "y", "1", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "f"})


def coerce(meta: Mapping[str, Any], *, where: str, line: int | None = None) -> dict[str, Any]:
    """Type the known metadata fields: id -> str, exchange_months -> int, synthetic -> bool, names -> list,
    and the CSV forms of `speakers` ("A=interviewer; B=respondent") and `interviewer` ("A; B")."""
    out = dict(meta)
    if out.get("id") is not None:
        out["id"] = str(out["id"]).strip()
    months = out.get("exchange_months")
    if isinstance(months, str) and re.fullmatch(r"[+-]?\d+(?:\.0*)?", months.strip()):
        out["exchange_months"] = int(float(months))
    synthetic = out.get("synthetic")
    if isinstance(synthetic, (str, int)) and not isinstance(synthetic, bool):
        value = str(synthetic).strip().lower()
        if value not in _TRUE | _FALSE:
            raise TranscriptError(f"synthetic must be true or false, not {synthetic!r}", path=where, line=line)
        out["synthetic"] = value in _TRUE
    names = out.get("names")
    if isinstance(names, str):
        out["names"] = [name.strip() for name in names.split(";") if name.strip()]
    elif isinstance(names, list):
        out["names"] = [str(name).strip() for name in names if str(name).strip()]
    if isinstance(out.get("interviewer"), str) and ";" in out["interviewer"]:
        out["interviewer"] = [label.strip() for label in out["interviewer"].split(";") if label.strip()]
    if isinstance(out.get("speakers"), str):  # a CSV cell: "Kari Nilsen=interviewer; KN=respondent"
        pairs = [item.partition("=") for item in out["speakers"].split(";") if item.strip()]
        if any(not sep or not label.strip() for label, sep, _ in pairs):
            message = f"speakers must be 'label=role; label=role', not {out['speakers']!r}"
            raise TranscriptError(message, path=where, line=line)
        out["speakers"] = {label.strip(): role.strip() for label, _, role in pairs}
    return out


def load_metadata(folder: Path) -> dict[str, dict[str, Any]]:
    """Read `folder/metadata.csv` into {relative posix path: typed row}; empty cells become None."""
    path = Path(folder) / "metadata.csv"
    if not path.is_file():
        return {}
    where = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TranscriptError(f"cannot read metadata: {exc.strerror or exc}", path=where) from None
    if not data.strip():
        return {}
    text, _, _ = decode_bytes(data, where)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: dict[str, dict[str, Any]] = {}
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        if "file" not in header:
            raise TranscriptError("metadata.csv needs a 'file' column", path=where, line=1)
        if len(set(header)) != len(header):
            raise TranscriptError("metadata.csv repeats a column name", path=where, line=1)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            line = reader.line_num
            if len(row) != len(header):
                message = f"row has {len(row)} fields but the header has {len(header)}"
                raise TranscriptError(message, path=where, line=line)
            record = {name: (cell.strip() or None) for name, cell in zip(header, row) if name}
            key = (record["file"] or "").replace("\\", "/").removeprefix("./")
            if not key:
                raise TranscriptError("row has an empty 'file' value", path=where, line=line)
            if key in rows:
                raise TranscriptError(f"file {key!r} is listed twice", path=where, line=line)
            record["file"] = key
            if record.get("names") is None and "names" in record:
                record["names"] = []
            rows[key] = coerce(record, where=where, line=line)
    except csv.Error as exc:
        raise TranscriptError(f"malformed CSV: {exc}", path=where, line=reader.line_num) from None
    return rows
