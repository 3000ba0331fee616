"""Speaker labels: find them in any layout (role labels, names, timestamps, captions), group the text into turns
and assign interviewer/respondent roles."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from pipeline.core.errors import TranscriptError
from pipeline.ingest.metadata import line_number, text_lines

# --- speaker labels and roles ---------------------------------------------------------------

_TS = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?"
_TS_ANY = rf"(?:\[{_TS}\]|\({_TS}\)|{_TS})"
_TS_BRACKETED = rf"(?:\[{_TS}\]|\({_TS}\))"
_WORD = r"[^\W\d_](?:[\w'’-]|\.(?=\w))*\.?"
_LABEL = rf"{_WORD}(?:[ ]{_WORD}|[ ]\#?\d+){{0,3}}"
_BOLD = r"(?:\*{1,3}|_{2,3})"  # bold, bold-italic
# `Label: text`, with optional bold, a timestamp before, or a bracketed one after the label.
# Runs of blanks before something that is not a blank are possessive (`*+`): the same matches, but a line of
# `Name` and 50,000 spaces no longer tries every way of sharing the spaces between the optional parts (15 s).
_LABEL_LINE = re.compile(
    rf"[ \t]*+{_BOLD}?(?:(?P<ts_before>{_TS_ANY})[ \t]++{_BOLD}?)?(?P<label>{_LABEL})"
    rf"(?:[ \t]*+(?P<ts_after>{_TS_BRACKETED}))?(?:[ \t]*+\((?P<paren>[^()\n:]{{1,30}})\))?"
    rf"(?:[ \t]*+{_BOLD}?[ \t]*+:(?=\s|\*|_|$)[ \t]*+{_BOLD}?|[ \t]*\t)(?P<rest>.*)"
)
# A speaker line over the speech, with a timestamp: Otter `Kari Nilsen  0:03`, Teams `Kari Nilsen 00:00:03`,
# Descript `00:00:03 Kari Nilsen`, Zoom's text export `[Kari Nilsen] 10:02:15`.
_HEADER_LINE = re.compile(
    rf"[ \t]*(?:(?P<ts_before>{_TS_ANY})[ \t]+)?(?:\[(?P<bracketed>{_LABEL})\]|(?P<label>{_LABEL}))"
    rf"(?:[ \t]++(?:[-–—|][ \t]++)?(?P<ts_after>{_TS_ANY}))?[ \t]*"
)
# `Q. How long ...` / `A. Twelve months.`: role-word labels ending in a full stop (see _dot_labels).
_DOT_LABEL = re.compile(r"[ \t]*(?P<label>[A-Za-z]{1,3}\d*)\.[ \t]+(?P<rest>\S.*)")
_LEADING_TS = re.compile(rf"[ \t]*{_TS_ANY}[ \t]*")  # Sonix: `Speaker 1: [00:00:05] text`
# f4/MAXQDA `#00:00:12-5#`; found with search(), so no leading blanks (each start would rescan them all).
_TRAILING_TS = re.compile(rf"(?:\#{_TS}(?:-\d)?\#|\[{_TS}\])[ \t]*$")
_HARD_BREAK = re.compile(r"(?<!\\)\\[ \t]*$")  # Markdown's hard line break: a backslash ending the line (ATLAS.ti)
_TRAILING_ENDS = "#]\\"  # the last character of a trailing timestamp or of a hard break
_EMPHASIS = r"(?:\*{1,3}|_{1,3})"
# A label alone on its line, over the speech: `**Interviewer**\`, `***Participant***\`, `[Kari Nilsen]`, `Kari Nilsen`.
# Its blank runs are possessive and a timestamp after the label needs a blank just before it (a lookbehind):
# the same lines match, without trying every way of sharing a long blank run between the optional parts.
_ALONE_LINE = re.compile(
    rf"[ \t]*+(?:{_TS_ANY}[ \t]++)?(?P<open>{_EMPHASIS}|\[)?[ \t]*+(?P<label>{_LABEL})[ \t]*+(?P<colon>:)?[ \t]*+"
    rf"(?P<close>{_EMPHASIS}|\])?[ \t]*+:?(?:(?<=[ \t]){_TS_ANY})?[ \t]*+(?P<hard>\\)?[ \t]*"
)
# What a label alone on its line can hold besides blanks: a label of at most 40 characters (`_plausible`), two
# bracketed timestamps (14 each), emphasis or brackets on both sides (3 each), two colons and a backslash: 78.
_ALONE_MAX_VISIBLE = 80
_TS_LINE = re.compile(rf"[ \t]*{_BOLD}?{_TS_ANY}(?:[ \t]*(?:-->|-|–|to)[ \t]*{_TS_ANY})?{_BOLD}?[ \t]*")
_HEADING = re.compile(r"[ \t]{0,3}#{1,6}(?:[ \t].*)?")
_RULE = re.compile(r"[ \t]{0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,}|={3,}[ \t]*)")
_BOILERPLATE = re.compile(r"[ \t]*transcribed by https?://otter\.ai\S*[ \t]*", re.IGNORECASE)
# A line that breaks the speech (timestamp, heading, rule, Otter's footer): the four in one scan per line.
_BREAK_LINE = re.compile(
    "|".join(f"(?:{p.pattern})" for p in (_TS_LINE, _HEADING, _RULE)) + f"|(?i:{_BOILERPLATE.pattern})"
)
_VOICE = re.compile(r"[ \t]*<v(?:\.[^\s>]+)?[ \t]+(?P<label>[^>]+?)[ \t]*>")

_ROLE_WORDS = (
    (
        "interviewer",
        re.compile(r"(?:interviewer|int|i|q|question|moderator|facilitator|researcher|evaluator)(?: ?#?\d+| [a-z])?"),
    ),
    (
        "respondent",
        re.compile(r"(?:respondent|resp|interviewee|participant|informant|r|a|b|answer)(?: ?#?\d+| [a-z])?|p ?\d+"),
    ),
    ("other", re.compile(r"(?:interpreter|translator|observer|note[- ]?taker)(?: ?#?\d+)?")),
)
_SPEAKER_WORD = re.compile(r"(?:unknown )?speaker(?: ?#?\d+| [a-z])?")
NOT_SPEAKERS = frozenset(
    {
        "note",
        "notes",
        "nb",
        "ps",
        "date",
        "time",
        "location",
        "place",
        "duration",
        "topic",
        "subject",
        "title",
        "summary",
        "context",
        "background",
        "comment",
        "comments",
        "source",
        "tags",
        "keywords",
        "transcript",
        "recording",
        "audio",
        "file",
        "attendees",
        "present",
        "agenda",
        "example",
        "warning",
        "important",
        "update",
        "edit",
        "translation",
        "also",
        "so",
        "and",
        "but",
        "yes",
        "no",
        "well",
    }
)
_ROLES = ("interviewer", "respondent", "other")


@lru_cache(maxsize=4096)  # the same few labels are compared again and again, on every line they open
def norm(label: str) -> str:
    """Comparison key for a label: case-folded, single-spaced, without a trailing dot."""
    return " ".join(label.split()).casefold().rstrip(".")


def role_word(key: str) -> str | None:
    """The role a conventional label implies ("Interviewer 2" -> interviewer, "P3" -> respondent,
    "Interviewer (Kari)" -> interviewer)."""
    key = re.sub(r"\s*\([^()]*\)$", "", key)
    return next((role for role, pattern in _ROLE_WORDS if pattern.fullmatch(key)), None)


def conventional_label(key: str) -> bool:
    """A role word or a generic speaker label ("Interviewer", "P3", "Speaker 2"): a speaker even if used once."""
    return role_word(key) is not None or _SPEAKER_WORD.fullmatch(key) is not None


def structural_line(line: str) -> bool:
    """A timestamp line, Markdown heading or rule: it separates turns and is never speech."""
    return any(p.fullmatch(line) for p in (_TS_LINE, _HEADING, _RULE))


def explicit_roles(meta: Mapping[str, Any], where: str) -> dict[str, str]:
    """Roles set in metadata: a `speakers` mapping (label -> role) and `interviewer` label(s)."""
    roles: dict[str, str] = {}
    speakers = meta.get("speakers")
    if speakers is not None:
        if not isinstance(speakers, Mapping):
            raise TranscriptError("metadata 'speakers' must map each speaker label to a role", path=where)
        for label, role in speakers.items():
            value = norm(str(role))
            roles[norm(str(label))] = value if value in _ROLES else (role_word(value) or "other")
    interviewer = meta.get("interviewer")
    for label in interviewer if isinstance(interviewer, (list, tuple)) else [interviewer] if interviewer else []:
        roles[norm(str(label))] = "interviewer"
    return roles


_Span = tuple[str, int, int]  # (speaker label as written, start_char, end_char)


class Event(NamedTuple):
    """One scanned line (or a cue boundary): a label, text, a blank, or a break that ends the turn."""

    kind: str  # "label" | "text" | "blank" | "break"
    start: int = 0  # content span (stripped)
    end: int = 0
    label: str = ""
    strong: bool = False  # timestamped or tagged label: accepted without further evidence
    line_start: int = 0  # whole line span (stripped), used if the label is not accepted
    line_end: int = 0
    hard_break: bool = False  # the line ended in a Markdown hard break (a backslash): the turn's span ends there


def _strip(text: str, start: int, end: int, *, drop_voice_end: bool = False) -> tuple[int, int]:
    """Narrow [start, end) to exclude surrounding whitespace (and a caption's closing </v>). The blanks are stepped
    over in place (what `str.strip` removes: `str.isspace` characters), not stripped from copies of the line."""
    first = start
    while first < end and text[first].isspace():
        first += 1
    if first >= end:
        return start, start
    while text[end - 1].isspace():
        end -= 1
    start = first
    if drop_voice_end and text.endswith("</v>", start, end):
        return _strip(text, start, end - 4)
    if text[end - 1] not in _TRAILING_ENDS:  # neither pattern can match: each ends in one of these, then blanks
        return start, end
    trailing = _TRAILING_TS.search(text, start, end) or _HARD_BREAK.search(text, start, end)
    if trailing and trailing.start() > start:
        return _strip(text, start, trailing.start())
    return start, end


def _dot_labels(text: str, start: int) -> frozenset[str]:
    """Role-word labels written with a full stop (`Q.` / `A.`), when at least two of them each open two or more
    lines: one such line alone is more likely an initial ("A. Smith said")."""
    counts = Counter(norm(m["label"]) for offset, line in text_lines(text, start) if (m := _DOT_LABEL.fullmatch(line)))
    keys = frozenset(key for key, count in counts.items() if count >= 2 and role_word(key))
    return keys if len(keys) >= 2 else frozenset()


def _label_event(
    text: str, offset: int, line: str, *, caption: bool, dot_labels: frozenset[str] = frozenset()
) -> Event | None:
    """A `Label: text`, Rev, Otter, `Q.` or `<v Label>` line as a label event, or None."""
    whole = _strip(text, offset, offset + len(line), drop_voice_end=caption)
    match = _VOICE.match(line) if caption else None
    if match:
        start, end = _strip(text, offset + match.end(), offset + len(line), drop_voice_end=True)
        return Event("label", start, end, match["label"], True, *whole)
    match = _LABEL_LINE.fullmatch(line)
    if match and _plausible(match["label"]):
        label = f"{match['label']} ({match['paren'].strip()})" if match["paren"] else match["label"]
        rest = offset + match.start("rest")
        leading = _LEADING_TS.match(text, rest, offset + len(line))
        start, end = _strip(text, leading.end() if leading else rest, offset + len(line), drop_voice_end=caption)
        strong = bool(match["ts_before"] or match["ts_after"] or leading)
        return Event("label", start, end, label, strong, *whole)
    match = _DOT_LABEL.fullmatch(line) if dot_labels else None
    if match and norm(match["label"]) in dot_labels:
        start, end = _strip(text, offset + match.start("rest"), offset + len(line))
        return Event("label", start, end, match["label"], False, *whole)
    match = None if caption else _HEADER_LINE.fullmatch(line)
    if match and (match["ts_before"] or match["ts_after"]):
        label = match["bracketed"] or match["label"]
        if _plausible(label) and (_name_like(label) or role_word(norm(label))):
            return Event("label", whole[1], whole[1], label, True, *whole)
    return None


def _text_event(text: str, offset: int, line: str, *, caption: bool = False) -> Event:
    """A content line, its span stripped."""
    start, end = _strip(text, offset, offset + len(line), drop_voice_end=caption)
    return Event("text", start, end, line_start=start, line_end=end)


class AloneLabel(NamedTuple):
    """A line that could be a speaker label standing alone over the speech."""

    label: str
    marked: bool  # in bold/italic or brackets, or ending in a colon or a hard break: set apart as a label
    name_like: bool


def alone_label(line: str) -> AloneLabel | None:
    """The label of a line that holds nothing but a short label (with optional emphasis, brackets, colon, timestamp
    or hard break), or None; whether it is a speaker is decided over the whole file (`layout.stacked_labels`)."""
    if len(line) - line.count(" ") - line.count("\t") > _ALONE_MAX_VISIBLE:
        return None  # speech: more than a label and its marks (the regex would try every word of it first)
    match = _ALONE_LINE.fullmatch(line)
    if not match or not _plausible(match["label"]) or match["label"].endswith("."):
        return None
    if bool(match["open"]) != bool(match["close"]) or (match["open"] == "[") != (match["close"] == "]"):
        return None  # unbalanced emphasis or brackets: part of the speech
    marked = bool(match["open"] or match["colon"] or match["hard"])
    return AloneLabel(match["label"], marked, _name_like(match["label"]))


def _plausible(label: str) -> bool:
    """Short enough for a label, and not the end of a sentence."""
    return len(label) <= 40 and (not label.endswith(".") or role_word(norm(label)) is not None)


def _name_like(label: str) -> bool:
    """Every word capitalised or a number ("Kari Nilsen", "Speaker 2", "KN")."""
    return all(token[0].isupper() or token[0] in "#0123456789" for token in label.split())


def scan_text(text: str, start: int, *, stacked: frozenset[str] = frozenset()) -> list[Event]:
    """Classify each line of a txt/md/docx body from `start`; `stacked` are the keys of labels that stand alone
    on their line over the speech (see `layout.stacked_labels`)."""
    events = []
    dot_labels = _dot_labels(text, start)
    for offset, line in text_lines(text, start):
        if not line.strip():
            events.append(Event("blank"))
        elif _BREAK_LINE.fullmatch(line):
            events.append(Event("break"))
        else:
            event = (
                _label_event(text, offset, line, caption=False, dot_labels=dot_labels)
                or _stacked_event(text, offset, line, stacked)
                or _text_event(text, offset, line)
            )
            events.append(event._replace(hard_break=True) if "\\" in line and _HARD_BREAK.search(line) else event)
    return events


def _stacked_event(text: str, offset: int, line: str, stacked: frozenset[str]) -> Event | None:
    """A label alone on its line, if its key is one of the file's stacked speaker labels."""
    found = alone_label(line) if stacked else None
    if found is None or norm(found.label) not in stacked:
        return None
    whole = _strip(text, offset, offset + len(line))
    return Event("label", whole[1], whole[1], found.label, True, *whole)


_CUE_TIME = r"(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3}"
_TIMING = re.compile(rf"[ \t]*{_CUE_TIME}[ \t]+-->[ \t]+{_CUE_TIME}(?:[ \t].*)?")  # optional cue settings after


def scan_captions(text: str, fmt: str, where: str) -> list[Event]:
    """Classify the cue text lines of a .vtt or .srt file; every cue starts with a break."""
    blocks: list[list[tuple[int, str]]] = [[]]
    for offset, line in text_lines(text):
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
            line_no = line_number(text, block[0][0])
            raise TranscriptError("cue has no timing line (start --> end)", path=where, line=line_no)
        offset, line = block[timing]
        if not _TIMING.fullmatch(line):
            raise TranscriptError(f"malformed cue timing {line.strip()!r}", path=where, line=line_number(text, offset))
        events.append(Event("break"))
        for index, (offset, line) in enumerate(block[timing + 1 :]):
            event = _label_event(text, offset, line, caption=True)
            if event and index == 0 and _name_like(event.label):  # `Kari Nilsen: ...` opening a cue (Zoom)
                event = event._replace(strong=True)
            events.append(event or _text_event(text, offset, line, caption=True))
    return events


def accepted_labels(events: list[Event], explicit: Mapping[str, str]) -> set[str]:
    """Label keys that count as speakers: known role words, metadata labels, timestamped or repeated labels."""
    counts = Counter(norm(e.label) for e in events if e.kind == "label")
    strong = {norm(e.label) for e in events if e.kind == "label" and e.strong}
    return {
        key
        for key, count in counts.items()
        if key in explicit
        or (key not in NOT_SPEAKERS and (count >= 2 or key in strong or role_word(key) or _SPEAKER_WORD.fullmatch(key)))
    }


def role_declarations(text: str, events: list[Event], accepted: set[str]) -> tuple[list[Event], dict[str, str]]:
    """Header lines such as `Interviewer: AB`, naming another speaker's label, set that role and are not turns."""
    roles: dict[str, str] = {}
    kept = []
    first_words = {key.split(" ")[0] for key in accepted}
    for event in events:
        named = norm(text[event.start : event.end]) if _may_name(text, event, first_words) else ""
        role = role_word(norm(event.label)) if named in accepted and role_word(named) is None else None
        if role:
            roles.setdefault(named, role)
        kept.append(Event("break") if role else event)
    return kept, roles


def _may_name(text: str, event: Event, first_words: set[str]) -> bool:
    """Whether a label event's text could normalise to an accepted label: its first word must be one's first word
    (checked before normalising the whole text, which is usually the speech)."""
    if event.kind != "label":
        return False
    first = text[event.start : event.end].split(None, 1)
    if not first:
        return "" in first_words
    word = first[0].casefold()
    return word in first_words or word.rstrip(".") in first_words


def group_turns(
    text: str, events: list[Event], accepted: set[str], *, line_paragraphs: bool, unlabelled: str | None = None
) -> tuple[list[_Span], int]:
    """Group events into (label, start, end) turns, and count the words before the first label that were not coded.

    With `unlabelled` (only one side is labelled), a label's turn is its own line (or, for a label alone on its
    line, the lines under it up to a blank line), and all other text, before the first label too, is `unlabelled`'s.
    """
    labeled = bool(accepted)
    one_sided = unlabelled is not None
    turns: list[_Span] = []
    speaker: str | None = None if labeled else ""
    span: list[int] = []
    preamble_words = 0
    label_alone = False  # one-sided: a label with no speech on its line takes the lines under it

    def close() -> None:
        if span:
            turns.append((speaker or "", span[0], span[1]))
            span.clear()

    for event in events:
        if event.kind == "label" and norm(event.label) in accepted:
            close()
            speaker = event.label
            span.extend([event.start, event.end] if event.end > event.start else [])
            label_alone = one_sided and not span
            if event.hard_break and span and not one_sided:
                close()
            if one_sided and span:
                close()
                speaker = unlabelled
            continue
        if event.kind == "label" and one_sided and speaker is None:  # `Date: ...` above a one-sided transcript
            preamble_words += len(text[event.line_start : event.line_end].split())
            continue
        if event.kind == "label":
            event = Event("text", event.line_start, event.line_end, hard_break=event.hard_break)
        if one_sided and label_alone and event.kind in ("blank", "break"):
            close()
            speaker, label_alone = unlabelled, False
        if event.kind == "break" or (event.kind == "blank" and not labeled):
            close()
        elif event.kind == "text" and speaker is None and one_sided:
            speaker = unlabelled
            span[:] = [event.start, event.end]
        elif event.kind == "text" and speaker is None:
            preamble_words += len(text[event.start : event.end].split())
        elif event.kind == "text":
            span[:] = [span[0] if span else event.start, event.end]
            if event.hard_break or (line_paragraphs and not labeled):
                close()
    close()
    return turns, preamble_words


def assign_roles(
    turns: list[_Span], text: str, explicit: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Return {key: label as first written}, {key: role} and warnings; without an explicit or conventional
    interviewer, the label asking questions in >= 30% of its turns, 0.2 above every other, is guessed."""
    display: dict[str, str] = {}
    for label, _, _ in turns:
        display.setdefault(norm(label), label)
    roles = {key: explicit.get(key) or role_word(key) for key in display}
    unresolved = [key for key, role in roles.items() if role is None]
    if "interviewer" not in roles.values() and "r" in roles and "r" not in explicit and len(display) >= 2:
        unresolved.append("r")  # `R` is the Researcher beside `P1` or `B`, the Respondent beside `I`
        roles["r"] = None
    warnings: list[str] = []
    if unresolved and "interviewer" not in roles.values() and len(display) >= 2:
        asked = {key: [0, 0] for key in display}
        for label, start, end in turns:
            asked[norm(label)][0] += "?" in text[start:end]
            asked[norm(label)][1] += 1
        share = {key: questions / total for key, (questions, total) in asked.items()}
        best = max(unresolved, key=lambda key: share[key])
        runner_up = max(share[key] for key in display if key != best)
        if share[best] >= 0.3 and share[best] - runner_up >= 0.2:
            roles[best] = "interviewer"
            warnings.append(f"speaker roles guessed from question marks: {display[best]}=interviewer")
        else:
            names = ", ".join(display[key] for key in unresolved)
            warnings.append(
                f"could not tell the interviewer from question marks ({names}): coded as respondents;"
                " add a speakers: mapping to the metadata"
            )
    for key in unresolved:
        roles[key] = roles[key] or "respondent"
    return display, roles, warnings
