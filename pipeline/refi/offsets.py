"""Text-selection offsets in REFI-QDA files: the standard's code points, and the conventions tools really use.

The standard counts Unicode code points over the plain text as stored. NVivo counts UTF-16 code units (an
emoji counts 2); some tools count a CRLF line ending as one character. Which convention a file uses is
detected from the file itself: the one under which its selections land on the text they name, or else on
word edges, with the tool named in `origin` breaking ties.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Convention = Literal["codepoints", "utf16", "codepoints-lf", "utf16-lf"]
CONVENTIONS: tuple[Convention, ...] = ("codepoints", "utf16", "codepoints-lf", "utf16-lf")
DESCRIBE: dict[Convention, str] = {
    "codepoints": "Unicode code points (the standard)",
    "utf16": "UTF-16 code units (emoji count 2)",
    "codepoints-lf": "code points with CRLF counted as one",
    "utf16-lf": "UTF-16 code units with CRLF counted as one",
}
_SPACE = re.compile(r"\s+")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")  # outside the BMP: two UTF-16 code units
_ELLIPSIS = ("…", "...")


class OffsetMap:
    """Converts a tool's offsets over `text` to code-point offsets, for one convention."""

    def __init__(self, text: str, convention: Convention) -> None:
        self.length = len(text)
        widths: dict[int, int] = {}
        if convention.startswith("utf16"):
            widths.update((m.start(), 2) for m in _ASTRAL.finditer(text))
        if convention.endswith("-lf"):
            widths.update((m.start(), 0) for m in re.finditer("\r\n", text))
        self._points = sorted(widths)
        self._extra = [0]
        for point in self._points:
            self._extra.append(self._extra[-1] + widths[point] - 1)

    def units(self, codepoint: int) -> int:
        """The tool's offset of a code-point offset."""
        return codepoint + self._extra[bisect_left(self._points, codepoint)]

    def to_codepoint(self, unit: int) -> int | None:
        """The code-point offset of a tool's offset; None when it is out of range or splits a character."""
        if unit < 0 or unit > self.units(self.length):
            return None
        low, high = 0, self.length
        while low < high:  # the first code point whose unit offset is >= unit
            middle = (low + high) // 2
            if self.units(middle) < unit:
                low = middle + 1
            else:
                high = middle
        return low if self.units(low) == unit else None


@dataclass(frozen=True)
class RawSelection:
    """A selection as a file states it: offsets in the tool's units, and the name (often the quoted text)."""

    start: int
    end: int
    name: str = ""


@dataclass(frozen=True)
class Detection:
    """The convention chosen for one source, and the evidence for it."""

    convention: Convention
    name_matches: int
    named: int
    clean_edges: int
    edges: int
    invalid: int

    def describe(self) -> str:
        evidence = []
        if self.named:
            evidence.append(f"{self.name_matches}/{self.named} selections match their quoted names")
        if self.edges:
            evidence.append(f"{self.clean_edges}/{self.edges} differing selection edges fall on word edges")
        return DESCRIBE[self.convention] + (f" ({'; '.join(evidence)})" if evidence else "")


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


def _name_matches(name: str, quoted: str) -> bool:
    """Whether a selection's name is (the start of) the text it covers, as ATLAS.ti and qualcode name them."""
    wanted = _normal(name)
    truncated = wanted.endswith(_ELLIPSIS)
    for mark in _ELLIPSIS:
        wanted = wanted.removesuffix(mark).rstrip()
    got = _normal(quoted)
    return bool(wanted) and (got.startswith(wanted) if truncated else got == wanted)


def _clean_edge(text: str, offset: int) -> bool:
    """An edge that splits neither a word nor a CRLF pair."""
    if offset <= 0 or offset >= len(text):
        return True
    before, after = text[offset - 1], text[offset]
    return not ((before.isalnum() and after.isalnum()) or (before == "\r" and after == "\n"))


def detect_convention(text: str, selections: Sequence[RawSelection], *, origin: str = "") -> Detection:
    """The convention under which `selections` fit `text` best: fewest impossible spans, then most spans equal
    to their names, then most word-aligned edges among selections the candidates disagree on; ties go to the
    tool's known habit (NVivo: UTF-16) and otherwise to the standard."""
    candidates: list[Convention] = ["codepoints"]
    if _ASTRAL.search(text):
        candidates.append("utf16")
    if "\r\n" in text:
        candidates += [c for c in ("codepoints-lf", "utf16-lf") if c != "utf16-lf" or "utf16" in candidates]
    preferred: list[Convention] = ["utf16", "codepoints"] if "nvivo" in origin.lower() else ["codepoints", "utf16"]
    maps = {c: OffsetMap(text, c) for c in candidates}
    mapped = {c: [(maps[c].to_codepoint(s.start), maps[c].to_codepoint(s.end)) for s in selections] for c in candidates}
    differing = [i for i in range(len(selections)) if len({mapped[c][i] for c in candidates}) > 1]
    named = [i for i, s in enumerate(selections) if s.name.strip()]
    scores = {}
    for c in candidates:
        spans = mapped[c]
        invalid = sum(1 for a, b in spans if a is None or b is None or a > b)
        fits = [
            i
            for i in named
            if spans[i][0] is not None
            and spans[i][1] is not None
            and _name_matches(selections[i].name, text[spans[i][0] : spans[i][1]])
        ]
        clean = sum(_clean_edge(text, offset) for i in differing for offset in spans[i] if offset is not None)
        scores[c] = Detection(c, len(fits), len(named), clean, 2 * len(differing), invalid)
    rank = {c: (preferred.index(c.removesuffix("-lf")), c.endswith("-lf")) for c in candidates}
    best = max(
        candidates,
        key=lambda c: (-scores[c].invalid, scores[c].name_matches, scores[c].clean_edges, tuple(-x for x in rank[c])),
    )
    return scores[best]
