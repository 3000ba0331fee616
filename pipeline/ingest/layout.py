"""Infer each transcript's layout from the file itself: which recurring line-initial strings are speakers, where
they stand (before the speech, alone on the line above it, in caption cues), and whether only one side is labelled.

Layouts (the names `run.json` records per transcript):
- `inline`: `Label: speech` on one line (with or without bold, brackets, timestamps);
- `stacked`: the label alone on its line, the speech below (Otter, Rev, ATLAS.ti's `**Interviewer**\\`);
- `captions`: WebVTT/SRT cues with `<v Name>` or `Name:` voices;
- `one-sided`: only one side is labelled (`MODERATOR:` lines in a think-aloud); unlabelled text is the other side;
- `unlabelled`: no speaker labels; all text is one respondent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline.ingest.metadata import text_lines
from pipeline.ingest.speakers import (
    NOT_SPEAKERS,
    Event,
    alone_label,
    conventional_label,
    group_turns,
    norm,
    role_word,
    structural_line,
)

INLINE, STACKED, CAPTIONS, ONE_SIDED, UNLABELLED = "inline", "stacked", "captions", "one-sided", "unlabelled"
LAYOUTS = (INLINE, STACKED, CAPTIONS, ONE_SIDED, UNLABELLED)

# Who speaks the unlabelled text of a one-sided transcript, by the role of that text.
UNLABELLED_SPEAKER = {"respondent": "Participant", "interviewer": "Interviewer"}

_OVER_SPEECH = 0.8  # share of a stacked label's lines that must stand over speech
_LABEL_LINES = 0.1  # share of all non-blank lines that the stacked labels must take up
_ALTERNATION = 0.5  # share of successive stacked labels that must change speaker (unmarked labels)
_ASKS, _ASKS_MORE = 0.3, 0.2  # question share that makes a side the interviewer, and its lead over the other


@dataclass(frozen=True)
class Layout:
    """A transcript's inferred layout; for `one-sided`, the speaker and role given to unlabelled text."""

    name: str
    unlabelled: str | None = None
    roles: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def stacked_labels(text: str, start: int) -> frozenset[str]:
    """Keys of the labels that stand alone on their line over the speech, inferred from how they recur.

    A candidate is a short line holding only a label (emphasis, brackets, colon, timestamp and a hard break
    allowed). It is a speaker if it recurs (or is a role word like "Interviewer"), stands over speech, and is set
    apart by markup or alternates with other such labels; together they must take up a real share of the lines.
    """
    lines = [line for _, line in text_lines(text, start) if line.strip()]
    found = {index: alone_label(line) for index, line in enumerate(lines)}
    found = {index: label for index, label in found.items() if label is not None}
    count: Counter[str] = Counter()
    over_speech: Counter[str] = Counter()
    marked: Counter[str] = Counter()
    name_like: dict[str, bool] = {}
    for index, label in found.items():
        key = norm(label.label)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        structural = structural_line(following)
        count[key] += 1
        over_speech[key] += bool(following) and index + 1 not in found and not structural
        marked[key] += label.marked
        name_like[key] = name_like.get(key, True) and label.name_like

    keys = {
        key
        for key, n in count.items()
        if key not in NOT_SPEAKERS
        and over_speech[key] >= _OVER_SPEECH * n
        and (n >= 2 or conventional_label(key))
        and (2 * marked[key] >= n or conventional_label(key) or name_like[key])
    }
    sequence = [norm(label.label) for _, label in sorted(found.items()) if norm(label.label) in keys]
    if len(sequence) < _LABEL_LINES * len(lines):
        return frozenset()
    unmarked = {key for key in keys if 2 * marked[key] < count[key] and not conventional_label(key)}
    switches = sum(a != b for a, b in zip(sequence, sequence[1:]))
    if unmarked and (len(keys) < 2 or switches < _ALTERNATION * (len(sequence) - 1)):
        keys -= unmarked  # bare names over speech count only when speakers alternate
    return frozenset(keys)


def placement(events: list[Event], accepted: set[str], *, caption: bool) -> str:
    """`inline`, `stacked`, `captions` or `unlabelled`: where most accepted labels stand."""
    if not accepted:
        return UNLABELLED
    if caption:
        return CAPTIONS
    labels = [e for e in events if e.kind == "label" and norm(e.label) in accepted]
    inline = sum(e.end > e.start for e in labels)
    return INLINE if 2 * inline >= len(labels) else STACKED


def infer_layout(
    text: str, events: list[Event], accepted: set[str], explicit: Mapping[str, str], *, caption: bool
) -> Layout:
    """The transcript's layout. One-sided when a single speaker is labelled, text that is not its own line keeps
    alternating with its labels, and one side asks the questions (or the label is a role word like MODERATOR):
    then that unlabelled text is the other side's, not a continuation of the label's turn."""
    name = placement(events, accepted, caption=caption)
    keys = {norm(e.label) for e in events if e.kind == "label" and norm(e.label) in accepted}
    if name in (CAPTIONS, UNLABELLED) or len(keys) != 1:
        return Layout(name)
    (key,) = keys
    other = "\0unlabelled"  # placeholder speaker until the unlabelled side's role is known
    spans, _ = group_turns(text, events, accepted, line_paragraphs=False, unlabelled=other)
    labelled = [text[s:e] for label, s, e in spans if label != other]
    unlabelled = [text[s:e] for label, s, e in spans if label == other]
    if len(unlabelled) < 2 or 2 * len(unlabelled) < len(labelled):
        return Layout(name)  # continuation paragraphs, not a second speaker
    asks, other_asks = _question_share(labelled), _question_share(unlabelled)
    role = explicit.get(key) or role_word(key)
    if role == "interviewer" or (role is None and asks >= _ASKS and asks - other_asks >= _ASKS_MORE):
        other_role = "respondent"
    elif role in (None, "respondent") and other_asks >= _ASKS and other_asks - asks >= _ASKS_MORE:
        other_role = "interviewer"
    else:
        return Layout(name)
    speaker = UNLABELLED_SPEAKER[other_role]
    if norm(speaker) == key:
        return Layout(name)
    display = next(e.label for e in events if e.kind == "label" and norm(e.label) == key)
    label_role = "interviewer" if other_role == "respondent" else "respondent"
    warning = f"only {display} is labelled: unlabelled text read as {speaker} ({other_role})"
    return Layout(ONE_SIDED, speaker, {key: role or label_role, norm(speaker): other_role}, (warning,))


def _question_share(texts: list[str]) -> float:
    return sum("?" in t for t in texts) / len(texts) if texts else 0.0
