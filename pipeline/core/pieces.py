"""A transcript page's text as pieces: plain runs between segments, and the segments themselves, marked."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

Item = TypeVar("Item")


@dataclass(frozen=True)
class Piece:
    """A run of a transcript's text: plain, or a segment with what a page shows about it (report or review)."""

    text: str
    segment_id: str = ""
    themes: tuple[str, ...] = ()
    status: str = ""
    why: str = ""
    url: str = ""
    current: bool = False
    tagged: bool = False
    match: tuple[str, str, str] | None = None


def split_text(
    text: str, spans: Iterable[tuple[int, int, Item]], segment_piece: Callable[[int, int, Item], Piece]
) -> list[Piece]:
    """`text` cut at `spans` (start, end, item), in the order given: plain pieces between them and
    `segment_piece(start, end, item)` for each; a span starting before the previous one ends is skipped."""
    pieces: list[Piece] = []
    cursor = 0
    for start, end, item in spans:
        if start < cursor:
            continue
        pieces.append(Piece(text[cursor:start]))
        pieces.append(segment_piece(start, end, item))
        cursor = end
    pieces.append(Piece(text[cursor:]))
    return pieces
