"""Evidence strength on the stated scale (hand-computed on the fixture corpus), and the quote selection rule."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.codebook.load import load_codebook
from pipeline.coding.table import EVIDENCE, SEGMENT_ID, THEME, TRANSCRIPT_ID, metadata_frame, read_tags
from pipeline.ingest.read import discover
from pipeline.outputs.annex.evidence import (
    MODERATE,
    NONE,
    STRONG,
    WEAK,
    EvidenceCounts,
    GroupCount,
    counts_text,
    draft_statement,
    evidence_counts,
    evidence_strength,
    interview_groups,
    representative_quotes,
)
from pipeline.outputs.matrix import build_matrix

ANNEX = Path(__file__).resolve().parent / "fixtures" / "annex"


@pytest.fixture(scope="module")
def tags() -> pd.DataFrame:
    return read_tags(ANNEX / "tags.csv")


@pytest.fixture(scope="module")
def metadata() -> pd.DataFrame:
    return metadata_frame(discover(ANNEX / "transcripts")[0])


# Hand computation on tests/fixtures/annex (north: n1 n2 n3 n4, south: s1 s2; n1 and n2 are both Haukeland).
# - language_barrier: evidence n1 n2 s1 -> north 2/4, south 1/2: half of both groups, 3 interviews -> strong;
#   negated in n3 only: 1 < 3/2, not contested.
# - long_term_exchange: evidence n1 n4 s1 -> north 2/4, south 1/2 -> strong before dissent; negated in
#   n2 and s2: 2 >= 3/2 -> contested, one step down -> moderate.
# - staff_rotation: evidence n1 n2 (the hypothetical in s2 does not count) -> 2 interviews -> weak.
# - cultural_brokers: evidence n1 n3 n4 -> north 3/4, south 0/2: one group at half only; 3 interviews from
#   3 institutions -> moderate.
# - reciprocity: evidence n3 n4 s2 (n1's mention is the interviewer's) -> north 2/4, south 1/2 -> strong.
# - reciprocity + cultural_brokers: n1 n3 n4 s2 -> north 3/4, south 1/2 -> strong; 4 institutions.
# - age_limit: never raised -> none.
HAND_COMPUTED = [
    # themes, level, contested, interviews, institutions, (north, south), dissent
    (["language_barrier"], STRONG, False, 3, 2, (2, 1), 1),
    (["long_term_exchange"], MODERATE, True, 3, 3, (2, 1), 2),
    (["staff_rotation"], WEAK, False, 2, 1, (2, 0), 0),
    (["cultural_brokers"], MODERATE, False, 3, 3, (3, 0), 0),
    (["reciprocity"], STRONG, False, 3, 3, (2, 1), 0),
    (["reciprocity", "cultural_brokers"], STRONG, False, 4, 4, (3, 1), 0),
    (["age_limit"], NONE, False, 0, 0, (0, 0), 0),
]


@pytest.mark.parametrize(
    "themes, level, contested, interviews, institutions, per_group, dissent",
    HAND_COMPUTED,
    ids=["+".join(case[0]) for case in HAND_COMPUTED],
)
def test_strength_on_hand_computed_fixture(
    tags, metadata, themes, level, contested, interviews, institutions, per_group, dissent
):
    counts = evidence_counts(tags, metadata, themes=themes, by="side")
    assert (counts.n_interviews, counts.n_total, counts.n_institutions, counts.dissent) == (
        interviews,
        6,
        institutions,
        dissent,
    )
    assert [(g.group, g.n_interviews, g.group_size) for g in counts.groups] == [
        ("north", per_group[0], 4),
        ("south", per_group[1], 2),
    ]
    strength = evidence_strength(counts)
    assert (strength.level, strength.contested) == (level, contested)


@pytest.mark.parametrize("theme", ["language_barrier", "long_term_exchange", "staff_rotation", "reciprocity"])
def test_single_theme_counts_agree_with_the_findings_matrix(tags, metadata, theme):
    matrix = build_matrix(tags, metadata, load_codebook(ANNEX / "codebook.yaml"), by="side")
    row = next(r for tor in matrix.rows for r in tor.themes if r.theme.id == theme)
    counts = evidence_counts(tags, metadata, themes=[theme], by="side")
    assert counts.n_interviews == row.total.n_interviews
    assert counts.n_institutions == row.total.n_institutions
    assert counts.dissent == row.negated_interviews
    assert {g.group: g.n_interviews for g in counts.groups} == {g: c.n_interviews for g, c in row.cells.items()}


def _counts(n: int, institutions: int | None, groups: list[tuple[str, int, int]], dissent: int = 0) -> EvidenceCounts:
    return EvidenceCounts(
        themes=("t",),
        n_interviews=n,
        n_total=sum(g[2] for g in groups),
        n_institutions=institutions,
        groups=tuple(GroupCount(*g) for g in groups),
        dissent=dissent,
        n_segments=n,
    )


@pytest.mark.parametrize(
    "counts, level, contested",
    [
        (_counts(3, 1, [("north", 3, 4), ("south", 0, 2)]), WEAK, False),  # 3 interviews, one institution
        (_counts(3, 1, [("north", 2, 4), ("south", 1, 2)]), STRONG, False),  # the group rule needs no institutions
        (_counts(2, 2, [("north", 1, 2), ("south", 1, 2)]), WEAK, False),  # half of both groups, but only 2
        (_counts(4, None, [("unknown", 4, 8)]), STRONG, False),  # one group only: half of it is enough
        (_counts(3, None, [("unknown", 3, 8)]), MODERATE, False),  # no institution metadata: interviews count
        (_counts(4, 4, [("north", 2, 4), ("south", 2, 4), ("unknown", 0, 6)]), STRONG, False),  # unknown not a group
        (_counts(6, 6, [("north", 3, 4), ("south", 3, 4)], dissent=3), MODERATE, True),
        (_counts(4, 4, [("north", 4, 10), ("south", 0, 10)], dissent=4), WEAK, True),
        (_counts(2, 2, [("north", 2, 4)], dissent=5), WEAK, False),  # weak cannot drop further
        (_counts(0, 0, [("north", 0, 4)], dissent=2), NONE, False),
    ],
)
def test_scale_branches(counts, level, contested):
    strength = evidence_strength(counts)
    assert (strength.level, strength.contested) == (level, contested)
    assert strength.label == level + (" (contested)" if contested else "")


def test_counts_text_and_draft(tags, metadata):
    counts = evidence_counts(tags, metadata, themes=["long_term_exchange"], by="side")
    assert counts_text(counts) == (
        "raised in 3 of 6 interviews (North 2 of 4, South 1 of 2), 3 institutions; negated in 2 interviews"
    )
    assert counts_text(counts, groups=False) == "raised in 3 of 6 interviews, 3 institutions; negated in 2 interviews"
    evidence = tags[(tags[THEME] == "long_term_exchange") & tags[EVIDENCE]]
    quotes = representative_quotes(evidence, groups_of=interview_groups(metadata, "side"), limit=2)
    draft = draft_statement(evidence_strength(counts), quotes)
    assert draft.startswith("Raised in 3 of 6 interviews (North 2 of 4, South 1 of 2)")
    assert f"Most typical: “{quotes[0].text}”" in draft


def _evidence(rows: list[tuple[str, str]]) -> pd.DataFrame:
    """An evidence table of (transcript, text) rows for one theme."""
    return pd.DataFrame(
        [
            {
                SEGMENT_ID: f"{tid}:{i}",
                TRANSCRIPT_ID: tid,
                "start_char": i,
                "end_char": i + len(text),
                "text": text,
                THEME: "language_barrier",
                EVIDENCE: True,
            }
            for i, (tid, text) in enumerate(rows)
        ]
    )


GROUPS = {"n1": "north", "n2": "north", "n3": "north", "s1": "south", "s2": "south"}


def test_quotes_leave_out_annotations_but_not_offsets():
    text = "The language barrier (long pause) was real, [laughs] and only [colleague] spoke English with me."
    quote = representative_quotes(_evidence([("n1", text)]), groups_of=GROUPS, limit=1)[0]
    assert quote.text == "The language barrier was real, and only [colleague] spoke English with me."  # redaction kept
    assert quote.end_char - quote.start_char == len(text)


def test_the_most_central_quotable_segment_comes_first():
    evidence = _evidence(
        [
            ("n1", "The weather in Bergen was mostly rain, and the buses ran late every single morning."),
            ("n2", "The language barrier with patients was hard, the language of the ward was Swahili."),
            ("n3", "The language on the ward was Swahili, so the language barrier with patients was real."),
            ("s1", "Language."),  # central but never quoted: under 8 words
        ]
    )
    quotes = representative_quotes(evidence, groups_of=GROUPS, limit=4)
    assert quotes[0].transcript_id in ("n2", "n3")
    assert "s1" not in {q.transcript_id for q in quotes} and len(quotes) == 3
    assert quotes[0].centrality > next(q.centrality for q in quotes if q.transcript_id == "n1")


def test_one_quote_per_interview_and_groups_in_rounds():
    evidence = _evidence(
        [
            ("n1", "The language barrier on the ward meant I missed what the night staff said to patients."),
            ("n1", "The language barrier on the ward was the first thing I noticed about the night shift."),
            ("n2", "The language barrier on the ward made handovers slow, every handover took twice as long."),
            ("s1", "Our guests had a language barrier at first, but they learned the ward words quickly."),
            ("s2", "Language barrier? Some, but the doctors all speak English, so it was not a big problem."),
        ]
    )
    quotes = representative_quotes(evidence, groups_of=GROUPS, limit=3)
    assert len({q.transcript_id for q in quotes}) == 3
    assert [q.group for q in quotes[:2]].count("south") == 1  # the first round hears both groups
    assert {q.group for q in representative_quotes(evidence, groups_of=GROUPS, limit=2)} == {"north", "south"}


@pytest.mark.parametrize(
    ("score", "threshold", "quoted"),
    [(None, None, True), (0.9, 0.5, True), (0.55, 0.5, False), (0.9, None, False)],
)
def test_no_quote_the_classifier_is_unsure_of(score, threshold, quoted):
    """A tag scored under its theme's threshold + 0.1 (or with no known threshold) never gives a quote."""
    evidence = _evidence([("n1", "The language barrier on the ward meant I missed what the night staff said.")])
    evidence = evidence.assign(score=[score if score is not None else float("nan")])
    thresholds = {} if threshold is None else {"language_barrier": threshold}
    quotes = representative_quotes(evidence, groups_of=GROUPS, limit=3, thresholds=thresholds)
    assert len(quotes) == int(quoted)


def test_no_vocabulary_and_no_evidence():
    stop_words_only = _evidence(
        [("n1", "It was, and it is, what it was."), ("s1", "We were there and then we were not there.")]
    )
    quotes = representative_quotes(stop_words_only, groups_of=GROUPS, limit=3)
    assert [q.centrality for q in quotes] == [0.0, 0.0]
    assert representative_quotes(stop_words_only.iloc[0:0], groups_of=GROUPS, limit=3) == []
