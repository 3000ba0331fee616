"""Read interview transcripts (txt, md, docx, vtt, srt) into their text and speaker turns with exact offsets.

Every turn is a character span of `Transcript.text`, so later stages can quote and locate it exactly.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import docx
import yaml
from charset_normalizer import from_bytes
from docx.table import Table

from pipeline.errors import TranscriptError

TRANSCRIPT_SUFFIXES = (".txt", ".md", ".docx", ".vtt", ".srt")
_UNSUPPORTED_DOCUMENTS = (".doc", ".rtf", ".odt", ".pdf", ".pages", ".htm", ".html")  # reported, not ignored

NO_LABELS_WARNING = "no speaker labels found: coded as one respondent"


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
    metadata: dict[str, Any] = field(default_factory=dict)
    turns: list[Turn] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Skipped:
    """A file `discover` could not use, with a one-line reason naming the file (and line when known)."""

    source: str
    reason: str


# --- decoding -------------------------------------------------------------------------------

_BOMS = (  # UTF-32-LE's BOM starts with UTF-16-LE's, so it is tried first
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BINARY_SIGNATURES = (
    b"%PDF", b"PK\x03\x04", b"PK\x05\x06", b"\x89PNG", b"GIF8", b"\xff\xd8\xff",
    b"\xd0\xcf\x11\xe0", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!",
)
_BINARY = "binary file, not a transcript"


def _decode(data: bytes, where: str) -> tuple[str, str, list[str]]:
    """Decode a text file's bytes to (text, encoding, warnings); raise for empty, binary or undecodable data."""
    if not data.strip():
        raise TranscriptError("empty file", path=where)
    encoding, warnings = "", []
    for bom, name in _BOMS:
        if data.startswith(bom):
            encoding = name
            break
    else:
        if data.startswith(_BINARY_SIGNATURES):
            raise TranscriptError(_BINARY, path=where)
        if b"\x00" in data:  # text in UTF-16/32 without a BOM, or binary
            best = from_bytes(data).best()
            guess = best.encoding.replace("_", "-") if best else ""
            if not guess.startswith(("utf-16", "utf-32")):
                raise TranscriptError(_BINARY, path=where)
            encoding, warnings = guess, [f"no byte-order mark: decoded as {guess.upper()}"]
    if not encoding:
        try:
            text, encoding = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            try:
                text, encoding = data.decode("cp1252"), "cp1252"
            except UnicodeDecodeError:
                raise TranscriptError("not valid UTF-8 or cp1252 text", path=where, line=line) from None
            warnings = [f"not valid UTF-8 (line {line}); decoded as cp1252"]
    else:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise TranscriptError(f"not valid {encoding} text: {exc.reason}", path=where) from None
    if not text.strip():
        raise TranscriptError("empty file", path=where)
    controls = sum(1 for ch in text if ch < " " and ch not in "\t\n\r\f\v")
    if controls > len(text) * 0.05:
        raise TranscriptError(_BINARY, path=where)
    return text, encoding, warnings


def _docx_text(data: bytes, where: str) -> str:
    """Join a .docx's body paragraphs and table rows (cells tab-separated) with newlines, in document order."""
    try:
        document = docx.Document(io.BytesIO(data))
        parts: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                for row in block.rows:
                    cells = [cell for i, cell in enumerate(row.cells) if i == 0 or cell is not row.cells[i - 1]]
                    parts.append("\t".join(cell.text for cell in cells))
            else:
                parts.append(block.text)
    except Exception as exc:  # python-docx raises zip, XML and key errors for damaged packages
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise TranscriptError(f"not a readable .docx: {reason}", path=where) from None
    text = "\n".join(parts)
    if not text.strip():
        raise TranscriptError("empty file", path=where)
    return text


# --- lines and front matter -----------------------------------------------------------------

_LINE = re.compile(r"[^\r\n]*")


def _lines(text: str, start: int = 0) -> Iterator[tuple[int, str]]:
    """Yield (offset, line) for each line from `start`, without its ending (CRLF, LF or CR)."""
    pos = start
    while pos <= len(text):
        line = _LINE.match(text, pos).group()
        yield pos, line
        pos += len(line) + (2 if text.startswith("\r\n", pos + len(line)) else 1)


def _line_number(text: str, offset: int) -> int:
    """1-based line number of a character offset."""
    return text.count("\n", 0, offset) + 1


def _front_matter(text: str, where: str) -> tuple[dict[str, Any], int]:
    """Parse YAML front matter between a first line `---` and the next `---`; return it and the body offset.

    A block that is valid YAML but not a mapping (a title between two rules) is left as text."""
    lines = _lines(text)
    if next(lines)[1].rstrip() != "---":
        return {}, 0
    yaml_start = None
    for offset, line in lines:
        yaml_start = offset if yaml_start is None else yaml_start
        if line.rstrip() not in ("---", "..."):
            continue
        try:
            data = yaml.safe_load(text[yaml_start:offset])
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            line_no = mark.line + 2 if mark is not None else 1  # +1 for 0-based, +1 for the opening ---
            raise TranscriptError(f"malformed YAML front matter: {problem}", path=where, line=line_no) from None
        if data is not None and not isinstance(data, dict):  # e.g. a title between two rules: not front matter
            return {}, 0
        return data or {}, offset + len(line)
    raise TranscriptError("front matter opened with '---' is never closed", path=where, line=1)


# --- metadata -------------------------------------------------------------------------------

_TRUE = frozenset({"true", "yes", "y", "1", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "f"})


def _coerce(meta: Mapping[str, Any], *, where: str, line: int | None = None) -> dict[str, Any]:
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
    text, _, _ = _decode(data, where)
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
            rows[key] = _coerce(record, where=where, line=line)
    except csv.Error as exc:
        raise TranscriptError(f"malformed CSV: {exc}", path=where, line=reader.line_num) from None
    return rows


# --- speaker labels and roles ---------------------------------------------------------------

_TS = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?"
_TS_ANY = rf"(?:\[{_TS}\]|\({_TS}\)|{_TS})"
_TS_BRACKETED = rf"(?:\[{_TS}\]|\({_TS}\))"
_WORD = r"[^\W\d_](?:[\w'’-]|\.(?=\w))*\.?"
_LABEL = rf"{_WORD}(?:[ ]{_WORD}|[ ]\#?\d+){{0,3}}"
_BOLD = r"(?:\*\*?|__)"
# `Label: text`, with optional bold, a timestamp before, or a bracketed one after the label.
_LABEL_LINE = re.compile(
    rf"[ \t]*{_BOLD}?(?:(?P<ts_before>{_TS_ANY})[ \t]+{_BOLD}?)?(?P<label>{_LABEL})"
    rf"(?:[ \t]*(?P<ts_after>{_TS_BRACKETED}))?(?:[ \t]*\((?P<paren>[^()\n:]{{1,30}})\))?"
    rf"(?:[ \t]*{_BOLD}?[ \t]*:(?=\s|\*|_|$)[ \t]*{_BOLD}?|[ \t]*\t)(?P<rest>.*)"
)
# A speaker line over the speech, with a timestamp: Otter `Kari Nilsen  0:03`, Teams `Kari Nilsen 00:00:03`,
# Descript `00:00:03 Kari Nilsen`, Zoom's text export `[Kari Nilsen] 10:02:15`.
_HEADER_LINE = re.compile(
    rf"[ \t]*(?:(?P<ts_before>{_TS_ANY})[ \t]+)?(?:\[(?P<bracketed>{_LABEL})\]|(?P<label>{_LABEL}))"
    rf"(?:[ \t]+(?:[-–—|][ \t]+)?(?P<ts_after>{_TS_ANY}))?[ \t]*"
)
# `Q. How long ...` / `A. Twelve months.`: role-word labels ending in a full stop (see _dot_labels).
_DOT_LABEL = re.compile(r"[ \t]*(?P<label>[A-Za-z]{1,3}\d*)\.[ \t]+(?P<rest>\S.*)")
_LEADING_TS = re.compile(rf"[ \t]*{_TS_ANY}[ \t]*")  # Sonix: `Speaker 1: [00:00:05] text`
_TRAILING_TS = re.compile(rf"[ \t]*(?:\#{_TS}(?:-\d)?\#|\[{_TS}\])[ \t]*$")  # f4/MAXQDA `#00:00:12-5#`
_TS_LINE = re.compile(rf"[ \t]*{_BOLD}?{_TS_ANY}(?:[ \t]*(?:-->|-|–|to)[ \t]*{_TS_ANY})?{_BOLD}?[ \t]*")
_HEADING = re.compile(r"[ \t]{0,3}#{1,6}(?:[ \t].*)?")
_RULE = re.compile(r"[ \t]{0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,}|={3,}[ \t]*)")
_BOILERPLATE = re.compile(r"[ \t]*transcribed by https?://otter\.ai\S*[ \t]*", re.IGNORECASE)
_VOICE = re.compile(r"[ \t]*<v(?:\.[^\s>]+)?[ \t]+(?P<label>[^>]+?)[ \t]*>")

_ROLE_WORDS = (
    ("interviewer", re.compile(
        r"(?:interviewer|int|i|q|question|moderator|facilitator|researcher|evaluator)(?: ?#?\d+| [a-z])?")),
    ("respondent", re.compile(
        r"(?:respondent|resp|interviewee|participant|informant|r|a|b|answer)(?: ?#?\d+| [a-z])?|p ?\d+")),
    ("other", re.compile(r"(?:interpreter|translator|observer|note[- ]?taker)(?: ?#?\d+)?")),
)
_SPEAKER_WORD = re.compile(r"(?:unknown )?speaker(?: ?#?\d+| [a-z])?")
_NOT_SPEAKERS = frozenset({
    "note", "notes", "nb", "ps", "date", "time", "location", "place", "duration", "topic", "subject",
    "title", "summary", "context", "background", "comment", "comments", "source", "tags", "keywords",
    "transcript", "recording", "audio", "file", "attendees", "present", "agenda", "example", "warning",
    "important", "update", "edit", "translation", "also", "so", "and", "but", "yes", "no", "well",
})
_ROLES = ("interviewer", "respondent", "other")


def _norm(label: str) -> str:
    """Comparison key for a label: case-folded, single-spaced, without a trailing dot."""
    return " ".join(label.split()).casefold().rstrip(".")


def _role_word(key: str) -> str | None:
    """The role a conventional label implies ("Interviewer 2" -> interviewer, "P3" -> respondent,
    "Interviewer (Kari)" -> interviewer)."""
    key = re.sub(r"\s*\([^()]*\)$", "", key)
    return next((role for role, pattern in _ROLE_WORDS if pattern.fullmatch(key)), None)


def _explicit_roles(meta: Mapping[str, Any], where: str) -> dict[str, str]:
    """Roles set in metadata: a `speakers` mapping (label -> role) and `interviewer` label(s)."""
    roles: dict[str, str] = {}
    speakers = meta.get("speakers")
    if speakers is not None:
        if not isinstance(speakers, Mapping):
            raise TranscriptError("metadata 'speakers' must map each speaker label to a role", path=where)
        for label, role in speakers.items():
            value = _norm(str(role))
            roles[_norm(str(label))] = value if value in _ROLES else (_role_word(value) or "other")
    interviewer = meta.get("interviewer")
    for label in interviewer if isinstance(interviewer, (list, tuple)) else [interviewer] if interviewer else []:
        roles[_norm(str(label))] = "interviewer"
    return roles


_Span = tuple[str, int, int]  # (speaker label as written, start_char, end_char)


class _Event(NamedTuple):
    """One scanned line (or a cue boundary): a label, text, a blank, or a break that ends the turn."""

    kind: str  # "label" | "text" | "blank" | "break"
    start: int = 0  # content span (stripped)
    end: int = 0
    label: str = ""
    strong: bool = False  # timestamped or tagged label: accepted without further evidence
    line_start: int = 0  # whole line span (stripped), used if the label is not accepted
    line_end: int = 0


def _strip(text: str, start: int, end: int, *, drop_voice_end: bool = False) -> tuple[int, int]:
    """Narrow [start, end) to exclude surrounding whitespace (and a caption's closing </v>)."""
    chunk = text[start:end]
    if not chunk.strip():
        return start, start
    start, end = start + len(chunk) - len(chunk.lstrip()), start + len(chunk.rstrip())
    if drop_voice_end and text.endswith("</v>", start, end):
        return _strip(text, start, end - 4)
    trailing = _TRAILING_TS.search(text, start, end)
    if trailing and trailing.start() > start:
        return _strip(text, start, trailing.start())
    return start, end


def _dot_labels(text: str, start: int) -> frozenset[str]:
    """Role-word labels written with a full stop (`Q.` / `A.`), when at least two of them each open two or more
    lines: one such line alone is more likely an initial ("A. Smith said")."""
    counts = Counter(_norm(m["label"]) for offset, line in _lines(text, start) if (m := _DOT_LABEL.fullmatch(line)))
    keys = frozenset(key for key, count in counts.items() if count >= 2 and _role_word(key))
    return keys if len(keys) >= 2 else frozenset()


def _label_event(text: str, offset: int, line: str, *, caption: bool,
                 dot_labels: frozenset[str] = frozenset()) -> _Event | None:
    """A `Label: text`, Rev, Otter, `Q.` or `<v Label>` line as a label event, or None."""
    whole = _strip(text, offset, offset + len(line), drop_voice_end=caption)
    match = _VOICE.match(line) if caption else None
    if match:
        start, end = _strip(text, offset + match.end(), offset + len(line), drop_voice_end=True)
        return _Event("label", start, end, match["label"], True, *whole)
    match = _LABEL_LINE.fullmatch(line)
    if match and _plausible(match["label"]):
        label = f"{match['label']} ({match['paren'].strip()})" if match["paren"] else match["label"]
        rest = offset + match.start("rest")
        leading = _LEADING_TS.match(text, rest, offset + len(line))
        start, end = _strip(text, leading.end() if leading else rest, offset + len(line), drop_voice_end=caption)
        strong = bool(match["ts_before"] or match["ts_after"] or leading)
        return _Event("label", start, end, label, strong, *whole)
    match = _DOT_LABEL.fullmatch(line) if dot_labels else None
    if match and _norm(match["label"]) in dot_labels:
        start, end = _strip(text, offset + match.start("rest"), offset + len(line))
        return _Event("label", start, end, match["label"], False, *whole)
    match = None if caption else _HEADER_LINE.fullmatch(line)
    if match and (match["ts_before"] or match["ts_after"]):
        label = match["bracketed"] or match["label"]
        if _plausible(label) and (_name_like(label) or _role_word(_norm(label))):
            return _Event("label", whole[1], whole[1], label, True, *whole)
    return None


def _text_event(text: str, offset: int, line: str, *, caption: bool = False) -> _Event:
    """A content line, its span stripped."""
    start, end = _strip(text, offset, offset + len(line), drop_voice_end=caption)
    return _Event("text", start, end, line_start=start, line_end=end)


def _plausible(label: str) -> bool:
    """Short enough for a label, and not the end of a sentence."""
    return len(label) <= 40 and (not label.endswith(".") or _role_word(_norm(label)) is not None)


def _name_like(label: str) -> bool:
    """Every word capitalised or a number ("Kari Nilsen", "Speaker 2", "KN")."""
    return all(token[0].isupper() or token[0] in "#0123456789" for token in label.split())


def _scan_text(text: str, start: int) -> list[_Event]:
    """Classify each line of a txt/md/docx body from `start`."""
    events = []
    dot_labels = _dot_labels(text, start)
    for offset, line in _lines(text, start):
        if not line.strip():
            events.append(_Event("blank"))
        elif any(p.fullmatch(line) for p in (_TS_LINE, _HEADING, _RULE, _BOILERPLATE)):
            events.append(_Event("break"))
        else:
            events.append(_label_event(text, offset, line, caption=False, dot_labels=dot_labels)
                          or _text_event(text, offset, line))
    return events


_CUE_TIME = r"(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3}"
_TIMING = re.compile(rf"[ \t]*{_CUE_TIME}[ \t]+-->[ \t]+{_CUE_TIME}(?:[ \t].*)?")  # optional cue settings after


def _scan_captions(text: str, fmt: str, where: str) -> list[_Event]:
    """Classify the cue text lines of a .vtt or .srt file; every cue starts with a break."""
    blocks: list[list[tuple[int, str]]] = [[]]
    for offset, line in _lines(text):
        if line.strip():
            blocks[-1].append((offset, line))
        elif blocks[-1]:
            blocks.append([])
    blocks = [block for block in blocks if block]
    if fmt == "vtt":
        if not blocks or not re.fullmatch(r"WEBVTT(?:[ \t].*)?", blocks[0][0][1]):
            raise TranscriptError("not a WebVTT file: the first line must be WEBVTT", path=where, line=1)
        blocks = blocks[1:]
    events = []
    for block in blocks:
        if fmt == "vtt" and re.match(r"(?:NOTE|STYLE|REGION)(?:[ \t]|$)", block[0][1]):
            continue
        timing = next((i for i, (_, line) in enumerate(block[:2]) if "-->" in line), None)
        if timing is None:
            line_no = _line_number(text, block[0][0])
            raise TranscriptError("cue has no timing line (start --> end)", path=where, line=line_no)
        offset, line = block[timing]
        if not _TIMING.fullmatch(line):
            raise TranscriptError(f"malformed cue timing {line.strip()!r}", path=where, line=_line_number(text, offset))
        events.append(_Event("break"))
        for index, (offset, line) in enumerate(block[timing + 1:]):
            event = _label_event(text, offset, line, caption=True)
            if event and index == 0 and _name_like(event.label):  # `Kari Nilsen: ...` opening a cue (Zoom)
                event = event._replace(strong=True)
            events.append(event or _text_event(text, offset, line, caption=True))
    return events


def _accepted_labels(events: list[_Event], explicit: Mapping[str, str]) -> set[str]:
    """Label keys that count as speakers: known role words, metadata labels, timestamped or repeated labels."""
    counts = Counter(_norm(e.label) for e in events if e.kind == "label")
    strong = {_norm(e.label) for e in events if e.kind == "label" and e.strong}
    return {
        key for key, count in counts.items()
        if key in explicit or (key not in _NOT_SPEAKERS and (
            count >= 2 or key in strong or _role_word(key) or _SPEAKER_WORD.fullmatch(key)))
    }


def _role_declarations(text: str, events: list[_Event], accepted: set[str]) -> tuple[list[_Event], dict[str, str]]:
    """Header lines such as `Interviewer: AB`, naming another speaker's label, set that role and are not turns."""
    roles: dict[str, str] = {}
    kept = []
    for event in events:
        named = _norm(text[event.start:event.end]) if event.kind == "label" else ""
        role = _role_word(_norm(event.label)) if named in accepted and _role_word(named) is None else None
        if role:
            roles.setdefault(named, role)
        kept.append(_Event("break") if role else event)
    return kept, roles


def _group_turns(
    text: str, events: list[_Event], accepted: set[str], *, line_paragraphs: bool
) -> tuple[list[_Span], int]:
    """Group events into (label, start, end) turns, and count the words before the first label."""
    labeled = bool(accepted)
    turns: list[_Span] = []
    speaker: str | None = None if labeled else ""
    span: list[int] = []
    preamble_words = 0

    def close() -> None:
        if span:
            turns.append((speaker or "", span[0], span[1]))
            span.clear()

    for event in events:
        if event.kind == "label" and _norm(event.label) in accepted:
            close()
            speaker = event.label
            span.extend([event.start, event.end] if event.end > event.start else [])
            continue
        if event.kind == "label":
            event = _Event("text", event.line_start, event.line_end)
        if event.kind == "break" or (event.kind == "blank" and not labeled):
            close()
        elif event.kind == "text" and speaker is None:
            preamble_words += len(text[event.start:event.end].split())
        elif event.kind == "text":
            span[:] = [span[0] if span else event.start, event.end]
            if line_paragraphs and not labeled:
                close()
    close()
    return turns, preamble_words


def _assign_roles(
    turns: list[_Span], text: str, explicit: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Return {key: label as first written}, {key: role} and warnings; without an explicit or conventional
    interviewer, the label asking questions in >= 30% of its turns, 0.2 above every other, is guessed."""
    display: dict[str, str] = {}
    for label, _, _ in turns:
        display.setdefault(_norm(label), label)
    roles = {key: explicit.get(key) or _role_word(key) for key in display}
    unresolved = [key for key, role in roles.items() if role is None]
    if "interviewer" not in roles.values() and "r" in roles and "r" not in explicit and len(display) >= 2:
        unresolved.append("r")  # `R` is the Researcher beside `P1` or `B`, the Respondent beside `I`
        roles["r"] = None
    warnings: list[str] = []
    if unresolved and "interviewer" not in roles.values() and len(display) >= 2:
        asked = {key: [0, 0] for key in display}
        for label, start, end in turns:
            asked[_norm(label)][0] += "?" in text[start:end]
            asked[_norm(label)][1] += 1
        share = {key: questions / total for key, (questions, total) in asked.items()}
        best = max(unresolved, key=lambda key: share[key])
        runner_up = max(share[key] for key in display if key != best)
        if share[best] >= 0.3 and share[best] - runner_up >= 0.2:
            roles[best] = "interviewer"
            warnings.append(f"speaker roles guessed from question marks: {display[best]}=interviewer")
        else:
            names = ", ".join(display[key] for key in unresolved)
            warnings.append(f"could not tell the interviewer from question marks ({names}): coded as respondents;"
                            " add a speakers: mapping to the metadata")
    for key in unresolved:
        roles[key] = roles[key] or "respondent"
    return display, roles, warnings


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
    if fmt == "docx":
        if not data.strip():
            raise TranscriptError("empty file", path=where)
        if data.startswith(_BINARY_SIGNATURES) and not data.startswith(b"PK"):
            raise TranscriptError(_BINARY, path=where)
        text, encoding, warnings = _docx_text(data, where), "utf-8", []
    else:
        text, encoding, warnings = _decode(data, where)
    meta = _coerce(metadata or {}, where=where)
    body = 0
    if fmt in ("txt", "md"):
        front, body = _front_matter(text, where)
        meta.update(_coerce(front, where=where))
    explicit = _explicit_roles(meta, where)
    events = _scan_captions(text, fmt, where) if fmt in ("vtt", "srt") else _scan_text(text, body)
    accepted = _accepted_labels(events, explicit)
    events, declared = _role_declarations(text, events, accepted)
    explicit = {**declared, **explicit}
    spans, preamble_words = _group_turns(text, events, accepted, line_paragraphs=fmt == "docx")
    if not spans:
        raise TranscriptError("empty file: no spoken content found", path=where)
    if not accepted:
        warnings.append(NO_LABELS_WARNING)
    elif preamble_words > 40:
        warnings.append(f"{preamble_words} words before the first speaker label were not coded")
    display, roles, role_warnings = _assign_roles(spans, text, explicit)
    warnings.extend(role_warnings)
    missing = [str(label) for label in (meta.get("speakers") or {}) if _norm(str(label)) not in display]
    if missing:
        warnings.append(f"metadata speakers with no turns in this transcript: {', '.join(missing)}")
    turns = [
        Turn(speaker=display[_norm(label)], role=roles[_norm(label)], start_char=start, end_char=end)
        for label, start, end in spans
    ]
    return Transcript(
        id=str(meta.get("id") or path.stem), source=source, path=path, format=fmt, encoding=encoding,
        text=text, metadata=meta, turns=turns, warnings=warnings,
    )


def discover(folder: Path) -> tuple[list[Transcript], list[Skipped]]:
    """Read every transcript under `folder` (recursive, sorted); unreadable files, documents in unsupported
    formats (.pdf, .doc, ...) and later duplicate ids become Skipped; other files are ignored."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TranscriptError("transcripts folder not found", path=folder)
    metadata = load_metadata(folder)
    transcripts: list[Transcript] = []
    skipped: list[Skipped] = []
    seen: dict[str, str] = {}
    for path in sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.relative_to(folder).as_posix()):
        relative = path.relative_to(folder)
        source = relative.as_posix()
        hidden = any(part.startswith((".", "~$")) for part in relative.parts)  # ~$ : Word lock files
        if hidden or path.name.lower() in ("readme.md", "metadata.csv"):
            continue
        if path.suffix.lower() in _UNSUPPORTED_DOCUMENTS:
            skipped.append(Skipped(source, f"{path}: unsupported format {path.suffix}: save it as .docx or .txt"))
        if path.suffix.lower() not in TRANSCRIPT_SUFFIXES:
            continue
        try:
            transcript = read_transcript(path, root=folder, metadata=metadata.get(source))
        except TranscriptError as exc:
            skipped.append(Skipped(source, str(exc)))
            continue
        if transcript.id in seen:
            reason = f"{path}: duplicate id {transcript.id!r} (already used by {seen[transcript.id]})"
            skipped.append(Skipped(source, reason))
            continue
        seen[transcript.id] = source
        transcripts.append(transcript)
    return transcripts, skipped
