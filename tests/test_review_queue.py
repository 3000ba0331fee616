"""The review queue: certainty of a tag, order, filters, and machine-vs-reviewer agreement per theme."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from pipeline.codebook.load import load_codebook
from pipeline.review.queue import QueueFilter, build_queue, certainty, machine_agreement

BASE = {
    "method": "rule",
    "score": math.nan,
    "negated": False,
    "hypothetical": False,
    "trigger": "",
    "rule_id": "lb.phrase",
    "matched": "language barrier",
}


@pytest.mark.parametrize(
    "changes, threshold, expected",
    [
        ({"method": "classifier", "score": 0.52, "rule_id": "", "matched": ""}, 0.5, 0.04),
        ({"method": "classifier", "score": 0.95, "rule_id": "", "matched": ""}, 0.5, 0.9),
        ({"method": "classifier", "score": 0.30, "rule_id": "", "matched": ""}, 0.3, 0.0),
        ({"negated": True, "trigger": "never"}, 0.5, 0.5),
        ({"hypothetical": True, "trigger": "if"}, 0.5, 0.5),
        ({}, 0.5, 0.6),
        ({"rule_id": "lb.phrase;lb.speak", "matched": "language barrier | speak Swahili"}, 0.5, 0.9),
        ({"matched": "language barrier | language problem"}, 0.5, 0.9),
        ({"method": "rule+classifier", "score": 0.9, "rule_id": "a;b", "matched": "x | y"}, 0.5, 0.8),
        ({"score": 0.1}, 0.5, 0.25),  # a rule the classifier scores below threshold
        ({"method": "human", "rule_id": "", "matched": ""}, 0.5, 1.0),
    ],
)
def test_certainty(changes: dict, threshold: float, expected: float) -> None:
    assert certainty({**BASE, **changes}, threshold=threshold) == pytest.approx(expected)


def tags_frame(rows: list[dict]) -> pd.DataFrame:
    defaults = {
        **BASE,
        "transcript_id": "t1",
        "end_char": 0,
        "review_status": "unreviewed",
        "machine_evidence": True,
        "evidence": True,
    }
    frame = pd.DataFrame([{**defaults, **row} for row in rows])
    frame["end_char"] = frame["start_char"] + 10
    return frame


def test_queue_order_least_certain_then_least_reviewed_theme() -> None:
    tags = tags_frame(
        [
            {"start_char": 0, "theme": "a"},  # 0.6
            {"start_char": 20, "theme": "b", "negated": True},  # 0.5
            {"start_char": 40, "theme": "b"},  # 0.6, theme b has 1 reviewed
            {"start_char": 60, "theme": "b", "review_status": "accepted"},  # 0.6
            {"start_char": 80, "theme": "a", "method": "classifier", "score": 0.55, "rule_id": "", "matched": ""},
        ]
    )
    queue = build_queue(tags)
    assert queue["start_char"].tolist() == [80, 20, 0, 40, 60]
    assert queue["theme_reviewed"].tolist() == [0, 1, 0, 1, 1]


def test_queue_uses_per_theme_thresholds() -> None:
    tags = tags_frame(
        [
            {"start_char": 0, "theme": "a", "method": "classifier", "score": 0.7, "rule_id": "", "matched": ""},
            {"start_char": 20, "theme": "b", "method": "classifier", "score": 0.7, "rule_id": "", "matched": ""},
        ]
    )
    assert build_queue(tags, thresholds={"b": 0.65})["theme"].tolist() == ["b", "a"]


def test_filters() -> None:
    tags = tags_frame(
        [
            {"start_char": 0, "theme": "a", "score": 0.8},
            {"start_char": 20, "theme": "b", "review_status": "rejected"},
            {"start_char": 40, "theme": "a", "transcript_id": "t2", "method": "classifier", "score": 0.4},
        ]
    )
    starts = lambda f: sorted(f.apply(build_queue(tags))["start_char"])  # noqa: E731
    assert starts(QueueFilter()) == [0, 40]
    assert starts(QueueFilter(status="all")) == [0, 20, 40]
    assert starts(QueueFilter(status="rejected")) == [20]
    assert starts(QueueFilter(theme="a", transcript="t2")) == [40]
    assert starts(QueueFilter(method="rule", status="all")) == [0, 20]
    assert starts(QueueFilter(min_score=0.5)) == [0]
    assert starts(QueueFilter(max_score=0.5)) == [40]


@pytest.mark.parametrize(
    "args, message",
    [
        ({"status": "maybe"}, "unknown status"),
        ({"min_score": "2"}, "between 0 and 1"),
        ({"max_score": "abc"}, "could not convert"),
    ],
)
def test_bad_filters_are_refused(args: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QueueFilter.from_args(args)


def test_filter_query_round_trip() -> None:
    filters = QueueFilter(theme="a", status="all", min_score=0.2)
    assert filters.query() == {"theme": "a", "status": "all", "min_score": "0.2"}
    assert QueueFilter.from_args(filters.query()) == filters


def test_machine_agreement_per_theme(fixtures) -> None:
    codebook = load_codebook(fixtures / "review" / "codebook.yaml")
    tags = tags_frame(
        [
            {"start_char": 0, "theme": "language_barrier", "review_status": "accepted"},
            {"start_char": 20, "theme": "language_barrier", "review_status": "rejected"},
            {"start_char": 40, "theme": "language_barrier", "review_status": "rejected", "machine_evidence": False},
            {
                "start_char": 60,
                "theme": "language_barrier",
                "review_status": "added",
                "method": "human",
                "machine_evidence": False,
            },
            {"start_char": 80, "theme": "language_barrier"},
            {"start_char": 0, "theme": "mentor", "review_status": "accepted"},
        ]
    )
    decisions = pd.DataFrame(
        {
            "theme_before": ["language_barrier"] * 3 + ["", "mentor", "mentor"],
            "theme_after": ["", "", "", "language_barrier", "", ""],
        }
    )
    table = machine_agreement(tags, decisions, codebook=codebook).set_index("theme")
    barrier = table.loc["language_barrier"]
    assert (barrier.decisions, barrier.reviewed_tags, barrier.tags) == (4, 4, 5)
    assert (barrier.agree, barrier.machine_only, barrier.reviewer_only) == (2, 1, 1)
    assert barrier.precision == pytest.approx(0.5) and barrier.recall == pytest.approx(0.5)
    assert barrier.kappa == pytest.approx(0.0)
    assert table.loc["mentor", "precision"] == 1.0 and math.isnan(table.loc["mentor", "kappa"])
    assert table.loc["short_stay", "reviewed_tags"] == 0 and math.isnan(table.loc["short_stay", "kappa"])
