"""The findings matrix: counts of interviews and institutions per ToR x theme x group, and quote choice."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.coding.records import Segment, Tag
from pipeline.coding.table import tags_frame
from pipeline.outputs.matrix import ALL_GROUPS, build_matrix, matrix_frame, quotable, select_quotes


def _tag(
    tid: str,
    start: int,
    text: str,
    *,
    theme="language_barrier",
    negated=False,
    role="respondent",
    rule_id="lb.lower",
    score=None,
    method="rule",
) -> Tag:
    segment = Segment(
        f"{tid}:{start}-{start + len(text)}", tid, f"{tid}.txt", "R", role, 0, start, start + len(text), text
    )
    return Tag(segment, theme, method, "0.1", "hash", rule_id=rule_id, negated=negated, score=score)


@pytest.fixture()
def metadata():
    return pd.DataFrame(
        {
            "transcript_id": ["a", "b", "c", "d"],
            "side": ["north", "south", "south", None],
            "institution": ["Haukeland", "Mnazi Mmoja", "Mnazi Mmoja", "Taveta"],
        }
    )


@pytest.fixture()
def tags():
    return tags_frame(
        [
            _tag("a", 0, "We had a real language barrier in the ward for months."),
            _tag("a", 60, "The language barrier again, same as before, every day."),
            _tag("b", 0, "I could not speak Norwegian, so the language barrier hurt my learning."),
            _tag("c", 0, "We never had a language problem.", negated=True),
            _tag("c", 40, "Did you have a language barrier?", role="interviewer"),
            _tag("d", 0, "Language barrier, of course, was the first thing we noticed there.", rule_id="lb.a;lb.b"),
        ]
    )


def test_counts_only_evidence(tags, metadata, minimal_codebook):
    matrix = build_matrix(tags, metadata, minimal_codebook, by="side")
    assert matrix.groups == ["north", "south", "unknown"]
    assert matrix.group_sizes == {"north": 1, "south": 2, "unknown": 1}
    row = matrix.rows[0].themes[0]
    assert (row.cells["north"].n_interviews, row.cells["north"].n_tags) == (1, 2)
    # c's mentions are negated and an interviewer question: not evidence; b is the only south interview.
    assert (row.cells["south"].n_interviews, row.cells["south"].n_institutions, row.cells["south"].group_size) == (
        1,
        1,
        2,
    )
    assert row.total.n_interviews == 3 and row.total.n_institutions == 3
    assert row.negated_interviews == 1
    assert row.cells["south"].share == 0.5


def test_quotes_one_per_interview_strongest_first(tags, metadata, minimal_codebook):
    row = build_matrix(tags, metadata, minimal_codebook).rows[0].themes[0]
    total_quotes = row.total.quotes
    # d matched two rules; then b (13 words) is closer to the 25-word target than a's best (11 words).
    assert [q.transcript_id for q in total_quotes] == ["d", "b", "a"]
    assert len({q.transcript_id for q in total_quotes}) == len(total_quotes)
    first = total_quotes[0]
    assert (first.start_char, first.end_char, first.source) == (0, len(first.text), "d.txt")


def test_quote_prefers_quotable_length():
    frame = tags_frame(
        [
            _tag("a", 0, "Language barrier."),
            _tag("a", 20, "It was a language barrier that made every ward round slow for me."),
        ]
    )
    assert [q.start_char for q in select_quotes(frame, limit=1)] == [20]


def test_quote_text_leaves_out_annotations_but_not_offsets():
    text = "It's Bergen. [laughs] The language barrier was the hardest part of the whole exchange for me."
    quote = select_quotes(tags_frame([_tag("a", 40, text)]), limit=1)[0]
    assert quote.text == "It's Bergen. The language barrier was the hardest part of the whole exchange for me."
    assert (quote.start_char, quote.end_char) == (40, 40 + len(text))


def test_classifier_score_ranks_quotes():
    frame = tags_frame(
        [
            _tag(
                "a",
                0,
                "We were put to filing papers nobody needed for months.",
                theme="t",
                rule_id="",
                score=0.6,
                method="classifier",
            ),
            _tag(
                "b",
                0,
                "I spent my days laminating cards while the nurses worked.",
                theme="t",
                rule_id="",
                score=0.9,
                method="classifier",
            ),
        ]
    )
    assert [q.transcript_id for q in select_quotes(frame, limit=2, thresholds={"t": 0.3})] == ["b", "a"]


@pytest.mark.parametrize(
    "text, method, score, thresholds, quoted",
    [
        ("It was a language barrier that made every ward round slow.", "rule", None, {}, True),
        ("The language barrier was real.", "rule", None, {}, False),  # 5 words: never quoted
        ("Seven words is one word too few.", "rule", None, {}, False),
        ("Eight words is just enough for a quote.", "rule", None, {}, True),
        ("We were put to filing papers nobody needed for months.", "classifier", 0.95, {"language_barrier": 0.5}, True),
        (
            "We were put to filing papers nobody needed for months.",
            "classifier",
            0.59,
            {"language_barrier": 0.5},
            False,
        ),
        ("We were put to filing papers nobody needed for months.", "classifier", 0.61, {"language_barrier": 0.5}, True),
        ("We were put to filing papers nobody needed for months.", "classifier", 0.95, {}, False),  # unknown threshold
        # a rule tag the classifier scored just under its threshold: the classifier is unsure, so no quote
        ("It was a language barrier that made every ward round slow.", "rule", 0.45, {"language_barrier": 0.5}, False),
    ],
)
def test_quotes_are_never_short_or_unsure(text, method, score, thresholds, quoted):
    frame = tags_frame([_tag("a", 0, text, score=score, method=method, rule_id="" if method != "rule" else "lb")])
    assert bool(quotable(frame, thresholds).iloc[0]) is quoted
    assert len(select_quotes(frame, limit=3, thresholds=thresholds)) == int(quoted)


def test_any_metadata_field_groups(tags, metadata, minimal_codebook):
    matrix = build_matrix(tags, metadata, minimal_codebook, by="institution")
    assert matrix.groups == ["Haukeland", "Mnazi Mmoja", "Taveta"]
    assert matrix.rows[0].themes[0].cells["Mnazi Mmoja"].n_interviews == 1


def test_tidy_frame(tags, metadata, minimal_codebook):
    frame = matrix_frame(build_matrix(tags, metadata, minimal_codebook))
    assert set(frame["side"]) == {"north", "south", "unknown", ALL_GROUPS}
    total = frame[frame["side"] == ALL_GROUPS].iloc[0]
    assert (total["n_interviews"], total["group_size"], total["negated_interviews"]) == (3, 4, 1)


def test_themes_without_a_tor_question_still_appear(tags, metadata, tmp_path):
    from pipeline.codebook.load import load_codebook
    from pipeline.outputs.report import heatmap_sections

    path = tmp_path / "codebook.yaml"
    path.write_text(
        "name: Other study\nversion: '1'\nthemes:\n  - id: language_barrier\n    label: Language\n"
        "    definition: Language problems.\n"
    )
    codebook = load_codebook(path)
    matrix = build_matrix(tags, metadata, codebook)
    assert [(row.question.id, [t.theme.id for t in row.themes]) for row in matrix.rows] == [
        ("other", ["language_barrier"])
    ]
    assert matrix.rows[0].themes[0].total.n_interviews == 3
    assert [(label, [t.theme.id for t in rows]) for label, rows in heatmap_sections(matrix, codebook)] == [
        ("Other themes", ["language_barrier"])
    ]
