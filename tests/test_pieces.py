"""core.pieces: a transcript's text cut at its segments, as the report and the review app show it."""

from __future__ import annotations

import pytest

from pipeline.core.pieces import Piece, split_text


def _marked(start: int, end: int, item: str) -> Piece:
    return Piece(f"[{item}]", segment_id=item)


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        ([], ["abcdefghij"]),
        ([(2, 4, "s1")], ["ab", "[s1]", "efghij"]),
        ([(0, 3, "s1"), (3, 10, "s2")], ["", "[s1]", "", "[s2]", ""]),
        ([(2, 6, "s1"), (4, 8, "s2"), (8, 9, "s3")], ["ab", "[s1]", "gh", "[s3]", "j"]),  # s2 overlaps s1: skipped
    ],
)
def test_split_text_interleaves_plain_and_segment_pieces(spans, expected):
    pieces = split_text("abcdefghij", spans, _marked)
    assert [p.text for p in pieces] == expected
    assert [p.segment_id for p in pieces if p.segment_id] == [t[1:-1] for t in expected if t.startswith("[")]


def test_plain_text_round_trips_when_segments_keep_their_text():
    text = "Q: Why?\nA: Because the language was hard.\n"
    spans = [(0, 7, "q"), (8, 41, "a")]
    pieces = split_text(text, spans, lambda start, end, item: Piece(text[start:end], segment_id=item))
    assert "".join(p.text for p in pieces) == text
